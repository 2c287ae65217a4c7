# FastFCN with mmseg's EncHead (EncNet's context encoding + SE loss) on the
# fused JPU map, as mmseg's fastfcn_r50-d32_jpu_enc configs.
_base_ = './fastfcn_r50-d32_jpu_fcn.py'
model = dict(
    decode_head=dict(
        _delete_=True,
        type='EncHead',
        in_channels=[512, 1024, 2048],
        in_index=(0, 1, 2),  # only the last (fused) one is read
        channels=512,
        num_codes=32,
        use_se_loss=True,
        add_lateral=False,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        # SE loss: does each class occur in the image (multi-label sigmoid).
        loss_se_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=0.2)))
