# FastFCN (Wu et al., arXiv:1903.11816): a plain ResNet-50 V1c at output stride
# 32, JPU fusing c2/c3/c4 into one stride-8 map, the reduced FCN head on it and
# an auxiliary one on c3, as mmseg's configs/fastfcn (which dilates stages 3-4
# on top of their stride; the paper does not, nor does this base).
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN when not distributed
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),  # c2, c3, c4 at strides 8, 16, 32
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        # ImageNet ResNet-50 V1c, mmseg's open-mmlab://resnet50_v1c (download.
        # openmmlab.com/pretrain/third_party/resnet50_v1c-2cccc1ad.pth) saved
        # here once by hand: nothing downloads at run time.
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/resnet50_v1c.pth')),
    neck=dict(
        type='FastFCNJPU',
        in_channels=(512, 1024, 2048),
        mid_channels=512,
        dilations=(1, 2, 4, 8),
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='ReducedFCNHead',
        in_channels=2048,  # 4 JPU branches x 512
        in_index=2,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # mmseg's weight; the authors' scripts use 0.2.
    auxiliary_head=dict(
        type='ReducedFCNHead',
        in_channels=1024,
        in_index=1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
