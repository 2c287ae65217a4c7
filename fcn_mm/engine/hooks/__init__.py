"""fcn_mm's runner hooks, registered into mmseg's ``HOOKS`` by ``import
fcn_mm``: atomic checkpoints, the non-finite loss guard, saving on
preemption signals and rank-equal state in distributed runs."""
from .checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .distributed_state_hook import DistributedStateHook
from .non_finite_hook import NonFiniteGuardHook, NonFiniteLossError
from .signal_hook import PreemptionHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'DistributedStateHook',
    'NonFiniteGuardHook', 'NonFiniteLossError', 'PreemptionHook'
]
