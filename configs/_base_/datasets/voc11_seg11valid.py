# Evaluation on seg11valid: the 736 VOC2011 val images that are not in SBD's
# train set, the split the FCN paper (Table 3) and pytorch-fcn report on. Put
# the list (fcn.berkeleyvision.org data/pascal/seg11valid.txt) at
# data/VOCdevkit/VOC2012/ImageSets/Segmentation/seg11valid.txt: VOC2012 holds
# all VOC2011 images and their labels.
_base_ = './voc12_aug.py'
test_dataloader = dict(
    dataset=dict(ann_file='ImageSets/Segmentation/seg11valid.txt'))
