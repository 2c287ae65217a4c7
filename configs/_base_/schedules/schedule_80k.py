# mmseg's 80k schedule (SGD, momentum 0.9, poly decay; validation and a
# checkpoint every 8k iterations), keeping the last
# 3 checkpoints, with fcn_mm's safe checkpoint and non-finite-loss hooks.
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'
default_hooks = dict(
    # fcn_mm's: written atomically, old ones removed only after, sha256 sidecars
    checkpoint=dict(type='AtomicCheckpointHook', max_keep_ckpts=3),
    # fcn_mm's: stop at a non-finite loss (max_skips=N skips N such steps)
    non_finite=dict(type='NonFiniteGuardHook'))
