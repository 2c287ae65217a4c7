# FCN-8s on VGG16, modern form: padded convs, resize-based skip fusion, any
# input size; torchvision's RGB normalisation to match its ImageNet VGG16
# (tools/model_converters/vgg2mmseg.py turns those weights into an init).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='FCNVGG16',
        mode='modern',
        # ImageNet VGG16 from torchvision, converted by
        # tools/model_converters/vgg2mmseg.py (nothing is downloaded).
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/vgg16_imagenet_fcn_mm.pth')),
    decode_head=dict(
        type='FCN8sHead',
        mode='modern',
        num_skips=2,
        in_channels=(256, 512, 4096),
        num_classes=21,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
