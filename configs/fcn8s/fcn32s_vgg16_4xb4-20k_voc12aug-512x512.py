# FCN-32s: fc7 scores upsampled x32, no skips.
_base_ = '../fcn8s_voc_aug.py'
model = dict(decode_head=dict(num_skips=0))
