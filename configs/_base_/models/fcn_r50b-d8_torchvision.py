# torchvision's fcn_resnet50 (models/segmentation/fcn.py): torchvision's ResNet
# (7x7 stem, stride on the 3x3 conv: mmseg ResNet, style='pytorch') with
# replace_stride_with_dilation=[False, True, True], a reduced FCN head on
# layer4 and an auxiliary one on layer3. contract_dilation=True gives the first
# block of layer3/layer4 dilation 1/2 and the others 2/4, as torchvision does;
# tools/model_converters/torchvision_fcn2mmseg.py maps its weights 1:1.
norm_cfg = dict(type='SyncBN', requires_grad=True)  # BN when not distributed
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # torchvision's ImageNet mean/std x 255
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        # torchvision's ImageNet resnet50-0676ba61.pth (its keys are mmseg
        # ResNet's; fc is ignored), saved here once by hand.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet50_torchvision.pth')),
    decode_head=dict(
        type='ReducedFCNHead',
        in_channels=2048,
        in_index=3,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # torchvision's references/segmentation recipe weighs the aux loss 0.5.
    auxiliary_head=dict(
        type='ReducedFCNHead',
        in_channels=1024,
        in_index=2,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.5)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
