# mmseg's 20k schedule (SGD, momentum 0.9, poly decay; validation and a
# checkpoint every 2k iterations), keeping only the last 3 checkpoints.
# With mmseg's 4 GPUs x 4 imgs: 20k x 16 / 10582 imgs ~ 30 epochs of VOC aug.
_base_ = 'mmseg::_base_/schedules/schedule_20k.py'
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
