# FCN-8s (VGG16, modern form) on ADE20K, 512x512 crops, 150 classes, 160k iters.
_base_ = [
    '../_base_/models/fcn8s_vgg16.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
model = dict(decode_head=dict(num_classes=150))
