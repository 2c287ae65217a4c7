# pytorch-fcn's FCN8s, converted by tools/model_converters/torchfcn2mmseg.py.
_base_ = [
    '../_base_/models/fcn8s_vgg16_caffe.py', '../_base_/datasets/voc12_aug.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_20k.py'
]
# The Caffe nets were evaluated on whole images at their own size: no Resize.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# VOC 2012 val overlaps SBD train, which these weights were trained on; the
# paper's split is seg11valid (_base_/datasets/voc11_seg11valid.py).
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
