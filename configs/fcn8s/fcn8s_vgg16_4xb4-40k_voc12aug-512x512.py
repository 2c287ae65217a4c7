# FCN-8s on VOC aug for 40k iterations: 40k x 16 imgs / 10582 ~ 60 epochs.
_base_ = [
    '../_base_/models/fcn8s_vgg16.py', '../_base_/datasets/voc12_aug.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
