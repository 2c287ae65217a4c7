# Dilated baseline of fastfcn_r50-d32_jpu_fcn_4xb4-80k_ade20k-512x512.py:
# R-50-D8 without JPU, the same reduced FCN heads, data and schedule.
_base_ = [
    '../_base_/models/dilatedfcn_r50-d8_fcn.py',
    '../_base_/datasets/ade20k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_80k.py'
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
