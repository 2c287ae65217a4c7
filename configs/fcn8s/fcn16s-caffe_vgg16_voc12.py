# pytorch-fcn's FCN16s: the converted FCN-8s set-up with the pool4 skip only.
_base_ = './fcn8s-caffe_vgg16_voc12.py'
model = dict(decode_head=dict(num_skips=1))
