# The demo FCN-8s made exactly repeatable for comparing distributed runs:
# no random augmentation (every image resized to 64x64, so every image adds
# the same number of pixels to a batch's mean loss), no dropout, and SGD.
# AdamW is avoided because its first steps move every weight by about lr
# times the sign of its gradient, which turns float rounding in gradients
# near zero into full-size differences. lr 1e-3: a BN net amplifies
# rounding by up to 1/sqrt(eps) per layer, and at 1e-2 that noise alone
# (two BN implementations, same data) reaches 1e-4 after 5 iterations.
_base_ = ('../../../configs/demo/'
          'fcn8s_vgg16-tiny_1xb8-300it_voc12aug-96x96.py')
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='PackSegInputs'),
]
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(dropout_ratio=0),
    decode_head=dict(dropout_ratio=0))
train_dataloader = dict(dataset=dict(datasets=[
    dict(_base_.dataset_train, pipeline=train_pipeline),
    dict(_base_.dataset_aug, pipeline=train_pipeline),
]))
optim_wrapper = dict(optimizer=dict(
    _delete_=True, type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4))
train_cfg = dict(max_iters=5)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=-1))
randomness = dict(seed=0, deterministic=True)
