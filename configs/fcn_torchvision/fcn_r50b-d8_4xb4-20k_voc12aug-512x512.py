# torchvision's fcn_resnet50 (R-50-D8); VOC 2012 + aug, 512x512, 20k iters.
_base_ = [
    '../_base_/models/fcn_r50b-d8_torchvision.py',
    '../_base_/datasets/voc12_aug.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py'
]
crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size))
