# SGD with momentum 0.9 and poly decay over 20k iterations; with the 4 imgs/GPU
# x 4 GPUs of mmseg's zoo: 20k x 16 / 10582 imgs ~ 30 epochs of VOC aug.
max_iters = 20000
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
# Validate and keep a checkpoint every 1/10 of the run.
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters // 10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # fcn_mm's: atomic writes, old ones removed after, sha256 sidecars.
    checkpoint=dict(
        type='AtomicCheckpointHook', by_epoch=False, interval=max_iters // 10,
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # fcn_mm's: stop at a non-finite loss (max_skips=N skips N such steps).
    non_finite=dict(type='NonFiniteGuardHook'),
    visualization=dict(type='SegVisualizationHook'))
