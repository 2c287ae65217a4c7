# The reference FCN-8s of Long, Shelhamer and Darrell (Caffe prototxt, as ported
# by pytorch-fcn): conv1_1 padding 100, ceil pooling, unpadded fc6, cropped
# skips, frozen bilinear upsampling.
_base_ = './fcn8s_vgg16.py'
# Its Caffe VGG16 weights expect BGR input, mean subtracted, no scaling.
data_preprocessor = dict(
    mean=[104.00699, 116.66877, 122.67892],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False)
model = dict(
    data_preprocessor=data_preprocessor,
    # Weights come whole from a converted checkpoint (load_from), not ImageNet.
    backbone=dict(mode='caffe', init_cfg=None),
    decode_head=dict(mode='caffe'))
