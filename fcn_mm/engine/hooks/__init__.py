"""fcn_mm's runner hooks, registered into mmseg's ``HOOKS`` by ``import
fcn_mm``: atomic checkpoints and the non-finite loss guard."""
from .checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .non_finite_hook import NonFiniteGuardHook, NonFiniteLossError

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'NonFiniteGuardHook',
    'NonFiniteLossError'
]
