# FCN-8s (VGG16, modern form) on VOC 2012 + aug, 512x512 crops, 20k iterations.
_base_ = [
    './_base_/models/fcn8s_vgg16.py', './_base_/datasets/voc12_aug.py',
    './_base_/default_runtime.py', './_base_/schedules/schedule_20k.py'
]
