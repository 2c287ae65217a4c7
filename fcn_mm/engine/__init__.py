"""Runner-side code: checkpoint loading, hooks (atomic checkpoints, the
non-finite guard), atomic test outputs, CPU distributed training and building
the runner.

Only what ``import fcn_mm`` must register or install is imported here; the
distributed set-up (:mod:`.distributed`, :mod:`.sync_bn`), the launch checks
(:mod:`.launch_check`) and :func:`.runner.build_runner` are imported where
they are used, so a config's ``custom_imports`` stays light.
"""
from .checkpoint import (MMENGINE_CHECKPOINT_GLOBALS, CorruptCheckpointError,
                         UntrustedCheckpointError, allow_mmengine_checkpoints,
                         load_from_local_weights_only)
from .hooks import AtomicCheckpointHook, NonFiniteGuardHook, NonFiniteLossError
from .optim_wrapper import CPUAmpOptimWrapper
from .outputs import AtomicIoUMetric, AtomicLocalVisBackend

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'AtomicCheckpointHook', 'AtomicIoUMetric',
    'AtomicLocalVisBackend', 'CPUAmpOptimWrapper', 'CorruptCheckpointError',
    'NonFiniteGuardHook', 'NonFiniteLossError', 'UntrustedCheckpointError',
    'allow_mmengine_checkpoints', 'load_from_local_weights_only'
]
