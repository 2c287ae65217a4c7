# FCN-16s: FCN-8s without the pool3 skip (one skip level).
_base_ = '../fcn8s_voc_aug.py'
model = dict(decode_head=dict(num_skips=1))
