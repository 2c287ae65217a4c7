# FastFCN: R-101 + JPU + reduced FCN head; VOC + aug, 512x512, 40k iters.
_base_ = './fastfcn_r50-d32_jpu_fcn_4xb4-40k_voc12aug-512x512.py'
# init_cfg merges into the base's Pretrained dict: only the file changes.
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='checkpoints/resnet101_v1c.pth')))
