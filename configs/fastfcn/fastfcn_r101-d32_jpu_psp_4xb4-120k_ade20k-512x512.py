# FastFCN: R-101 + JPU + mmseg's PSPHead; ADE20K, 512x512, 120k iters.
_base_ = './fastfcn_r50-d32_jpu_psp_4xb4-120k_ade20k-512x512.py'
model = dict(
    pretrained='checkpoints/resnet101_v1c.pth',
    backbone=dict(depth=101))
