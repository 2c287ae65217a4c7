# FastFCN: R-101 + JPU + mmseg's EncHead; ADE20K, 512x512, 80k iters.
_base_ = './fastfcn_r50-d32_jpu_enc_4xb4-80k_ade20k-512x512.py'
# init_cfg merges into the base's Pretrained dict: only the file changes.
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(checkpoint='checkpoints/resnet101_v1c.pth')))
