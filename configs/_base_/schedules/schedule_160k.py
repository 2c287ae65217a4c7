# mmseg's 160k schedule (SGD, momentum 0.9, poly decay; validation and a
# checkpoint every 16k iterations), keeping only the last 3 checkpoints.
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
