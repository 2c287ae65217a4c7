# FastFCN R-101 + JPU + EncNet head as wuhuikai/FastFCN lays it out (their
# released ADE20K EncNet+JPU models), converted by fastfcn2mmseg.py.
_base_ = './fastfcn_r50-d32_jpu_enc_authors_ade20k-512x512.py'
model = dict(backbone=dict(depth=101))
