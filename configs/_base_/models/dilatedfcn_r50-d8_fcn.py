# The baseline FastFCN replaces ("DilatedFCN"): ResNet-50 V1c with stages 3-4
# dilated (2, 4) instead of strided, output stride 8, no JPU, and the same
# reduced FCN heads on c4 and c3 as fastfcn_r50-d32_jpu_fcn.py.
_base_ = './fastfcn_r50-d32_jpu_fcn.py'
model = dict(
    backbone=dict(
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        contract_dilation=True),  # a stage's first block: half the dilation
    neck=None)
