# PASCAL VOC 2012 + SBD "aug": train = VOC train (1464) + SBD aug (9118) = 10582
# images (tools/convert_datasets/voc_aug.py builds the aug part), val = VOC val.
# mmseg's own base; the pipelines are restated only to check each label file
# after loading it, and the datasets become CheckedPascalVOCDataset (mmseg's,
# with its split files and images checked once).
_base_ = 'mmseg::_base_/datasets/pascal_voc12_aug.py'
dataset_type = 'CheckedPascalVOCDataset'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),  # names a bad label file
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # Labels load after Resize: metrics are computed at the original size.
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels'),
    dict(type='PackSegInputs'),
]
# mmseg's names; leaves restate the ConcatDataset from them (another root).
dataset_train = dict(
    _base_.dataset_train, type=dataset_type, pipeline=train_pipeline)
dataset_aug = dict(
    _base_.dataset_aug, type=dataset_type, pipeline=train_pipeline)
train_dataloader = dict(
    dataset=dict(datasets=[dataset_train, dataset_aug]))
val_dataloader = dict(dataset=dict(type=dataset_type, pipeline=test_pipeline))
test_dataloader = val_dataloader
