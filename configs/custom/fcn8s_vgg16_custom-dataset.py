# FCN-8s (configs/fcn8s_voc_aug.py) on your data: images/<name>.jpg, labels/
# <name>.png (classes 0..N-1, 255 = ignore), names in splits/{train,val}.txt.
_base_ = '../fcn8s_voc_aug.py'
data_root = 'data/my_dataset'  # edit: your folder
metainfo = dict(  # edit: your classes, in label order, and their colours
    classes=('background', 'animal', 'person', 'object'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
dataset = dict(  # masks saved as 0/255: 2 classes and label_map={255: 1}
    _delete_=True,  # no VOC key stays (ann_file='': every image in images/)
    type='CheckedBaseSegDataset', data_root=data_root, metainfo=metainfo,
    data_prefix=dict(img_path='images', seg_map_path='labels'),
    img_suffix='.jpg', seg_map_suffix='.png')
train_dataloader = dict(dataset=dict(
    ann_file='splits/train.txt', pipeline=_base_.train_pipeline, **dataset))
val_dataloader = dict(dataset=dict(
    ann_file='splits/val.txt', pipeline=_base_.test_pipeline, **dataset))
test_dataloader = val_dataloader
model = dict(decode_head=dict(num_classes=len(metainfo['classes'])))
train_cfg = dict(max_iters=2000, val_interval=200)  # poly LR follows it
default_hooks = dict(checkpoint=dict(interval=200))
