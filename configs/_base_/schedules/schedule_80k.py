# mmseg's 80k schedule (SGD, momentum 0.9, poly decay; validation and a
# checkpoint every 8k iterations), keeping only the last 3 checkpoints.
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
