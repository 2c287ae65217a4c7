# mmseg's runtime (logging, visualiser, default_scope='mmseg') plus the plugin.
_base_ = 'mmseg::_base_/default_runtime.py'
# Every leaf inherits this, so fcn_mm's models are registered before building.
custom_imports = dict(imports=['fcn_mm'], allow_failed_imports=False)
custom_hooks = [
    # BN statistics equal on every rank, so a distributed run validates what
    # it saves; world size in checkpoints (fcn_mm/engine/hooks).
    dict(type='DistributedStateHook'),
    # SIGTERM/SIGUSR1 (Slurm preemption, scancel, --signal=USR1@90) save the
    # current iteration and exit 143/138 (fcn_mm/engine/hooks/signal_hook.py).
    dict(type='PreemptionHook'),
]
