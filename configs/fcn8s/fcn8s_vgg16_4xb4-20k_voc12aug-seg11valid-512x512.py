# configs/fcn8s_voc_aug.py evaluated on seg11valid (736 VOC2011 val images).
_base_ = [
    '../_base_/models/fcn8s_vgg16.py',
    '../_base_/datasets/voc11_seg11valid.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py'
]
