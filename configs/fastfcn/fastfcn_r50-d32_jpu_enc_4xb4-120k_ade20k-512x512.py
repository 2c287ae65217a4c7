# FastFCN: R-50 + JPU + mmseg's EncHead; ADE20K, 512x512, 120k iters.
_base_ = [
    '../_base_/models/fastfcn_r50-d32_jpu_enc.py',
    '../_base_/datasets/ade20k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_120k.py'
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
