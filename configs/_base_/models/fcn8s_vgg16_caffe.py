# The reference FCN-8s of Long, Shelhamer and Darrell (Caffe prototxt, as ported
# by pytorch-fcn): conv1_1 padding 100, ceil pooling, unpadded fc6, cropped
# skips, frozen bilinear upsampling. Its Caffe VGG16 weights expect BGR input
# with the mean subtracted and no scaling.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.00699, 116.66877, 122.67892],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(type='FCNVGG16', mode='caffe'),
    decode_head=dict(
        type='FCN8sHead',
        mode='caffe',
        num_skips=2,
        in_channels=(256, 512, 4096),
        num_classes=21,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
