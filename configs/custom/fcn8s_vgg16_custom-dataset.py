# FCN-8s (configs/fcn8s_voc_aug.py) fine-tuned on your own dataset: photos in
# images/, labels in labels/ as PNGs of class indices (0..N-1, 255 = ignore),
# image names without extension in splits/train.txt and splits/val.txt.
_base_ = '../fcn8s_voc_aug.py'
data_root = 'data/my_dataset'  # edit: your folder
metainfo = dict(  # edit: your classes, in label order, and their colours
    classes=('background', 'animal', 'person', 'object'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
dataset = dict(type='CheckedBaseSegDataset', data_root=data_root,
               metainfo=metainfo,
               data_prefix=dict(img_path='images', seg_map_path='labels'))
train_dataloader = dict(dataset=dict(  # replaces VOC's ConcatDataset
    _delete_=True, ann_file='splits/train.txt', pipeline=_base_.train_pipeline,
    **dataset))
val_dataloader = dict(dataset=dict(ann_file='splits/val.txt', **dataset))
test_dataloader = val_dataloader
model = dict(decode_head=dict(num_classes=len(metainfo['classes'])))
# The poly LR schedule follows max_iters in tools/train.py.
train_cfg = dict(max_iters=2000, val_interval=200)
default_hooks = dict(checkpoint=dict(interval=200))
