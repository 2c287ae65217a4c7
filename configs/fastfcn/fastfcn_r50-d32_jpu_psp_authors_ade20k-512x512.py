# FastFCN R-50 + JPU + PSP head as wuhuikai/FastFCN lays it out, for its
# checkpoints converted by tools/model_converters/fastfcn2mmseg.py; ADE20K.
_base_ = './fastfcn_r50-d32_jpu_psp_4xb4-80k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        stem_channels=128,  # deep stem 64-64-128 (V1c: 32-32-64)
        init_cfg=None),  # the converted checkpoint holds every weight
    neck=dict(deep_first=True, align_corners=True),  # concat c4, c3, c2
    decode_head=dict(align_corners=True),  # all their upsampling aligns
    auxiliary_head=dict(align_corners=True))
