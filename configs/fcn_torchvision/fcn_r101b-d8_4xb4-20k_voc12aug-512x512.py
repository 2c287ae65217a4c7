# torchvision's fcn_resnet101 (R-101-D8); VOC 2012 + aug, 512x512, 20k iters.
_base_ = './fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py'
model = dict(
    pretrained='checkpoints/resnet101_torchvision.pth',
    backbone=dict(depth=101))
