# pytorch-fcn's FCN8sAtOnce (torchfcn2mmseg.py --variant fcn8s-atonce): FCN-8s
# whose pool4 and pool3 are scaled by 0.01 and 0.0001 before scoring.
_base_ = './fcn8s-caffe_vgg16_voc12.py'
model = dict(decode_head=dict(skip_scales=(0.01, 0.0001)))
