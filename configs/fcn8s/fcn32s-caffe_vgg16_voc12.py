# pytorch-fcn's FCN32s: the converted FCN-8s set-up without skips.
_base_ = './fcn8s-caffe_vgg16_voc12.py'
model = dict(decode_head=dict(num_skips=0))
