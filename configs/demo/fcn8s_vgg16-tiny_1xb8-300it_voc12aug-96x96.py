# configs/fcn8s_voc_aug.py shrunk to train from scratch on a 2-core CPU in about
# two minutes, on the synthetic VOC + SBD set of tools/misc/make_demo_data.py.
_base_ = '../fcn8s_voc_aug.py'
# Written by tools/demo.sh; nothing is downloaded.
data_root = 'data/demo/VOCdevkit/VOC2012'
# Demo images are 96-160 px, so crop and rescale at that scale, not 512.
crop_size = (96, 96)
max_iters = 300  # about a minute here; 100 iterations already pass mIoU 80
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(0.75, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    dict(type='PackSegInputs'),
]
model = dict(
    data_preprocessor=dict(size=crop_size),
    # No ImageNet weights offline: a quarter-width VGG16 with BN and a 256-wide
    # fc6/fc7 learns from scratch; BN is what makes a 16-layer net train fast.
    backbone=dict(
        stage_channels=(16, 32, 64, 128, 128),
        fc_channels=256,
        norm_cfg=dict(type='BN'),
        dropout_ratio=0.1,
        init_cfg=[dict(type='Kaiming', layer='Conv2d'),
                  dict(type='Constant', val=1, layer='_BatchNorm')]),
    decode_head=dict(in_channels=(64, 128, 256)))
train_dataloader = dict(
    batch_size=8,
    num_workers=2,  # the demo machine has 2 cores
    dataset=dict(datasets=[
        dict(_base_.dataset_train, data_root=data_root,
             pipeline=train_pipeline),
        dict(_base_.dataset_aug, data_root=data_root,
             pipeline=train_pipeline),
    ]))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Adam needs no learning-rate tuning for a from-scratch net; SGD at 0.01 is
# the setting for ImageNet-initialised VGG16.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
