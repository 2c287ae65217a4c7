# ADE20K (SceneParsing, 150 classes): mmseg's own base, 512x512 crops, labels
# loaded with reduce_zero_label (0 = "other" becomes 255 and is ignored); the
# pipelines are restated only to check each label file after loading it.
_base_ = 'mmseg::_base_/datasets/ade20k.py'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels'),  # names a bad label file
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels'),
    dict(type='PackSegInputs'),
]
# mmseg's ADE20KDataset, with its images and labels checked once.
train_dataloader = dict(
    dataset=dict(type='CheckedADE20KDataset', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CheckedADE20KDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
