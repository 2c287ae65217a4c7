# torchvision's fcn_resnet101 (R-101-D8); VOC 2012 + aug, 512x512, 20k iters.
_base_ = './fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py'
# init_cfg merges into the base's Pretrained dict: only the file changes.
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='checkpoints/resnet101_torchvision.pth')))
