# ADE20K (SceneParsing, 150 classes): mmseg's own base, 512x512 crops, labels
# loaded with reduce_zero_label (0 = "other" becomes 255 and is ignored).
_base_ = 'mmseg::_base_/datasets/ade20k.py'
