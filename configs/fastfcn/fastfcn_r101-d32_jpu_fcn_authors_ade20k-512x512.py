# FastFCN R-101 + JPU + FCN head as wuhuikai/FastFCN lays it out, for its
# checkpoints converted by tools/model_converters/fastfcn2mmseg.py; ADE20K.
_base_ = './fastfcn_r50-d32_jpu_fcn_authors_ade20k-512x512.py'
model = dict(backbone=dict(depth=101))
