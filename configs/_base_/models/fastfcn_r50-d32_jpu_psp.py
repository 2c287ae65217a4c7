# FastFCN with mmseg's PSPHead (pyramid pooling, bins 1/2/3/6) on the fused JPU
# map, as mmseg's fastfcn_r50-d32_jpu_psp configs.
_base_ = './fastfcn_r50-d32_jpu_fcn.py'
model = dict(
    decode_head=dict(
        _delete_=True,
        type='PSPHead',
        in_channels=2048,
        in_index=2,
        channels=512,
        pool_scales=(1, 2, 3, 6),
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
