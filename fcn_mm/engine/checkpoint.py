"""Loading mmengine checkpoints with torch >= 2.6, whose load is weights-only.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so torch's
default safe unpickler refuses the non-tensor objects a runner writes into
every checkpoint (the message hub's ``HistoryBuffer`` and the numpy arrays in
it). :func:`allow_mmengine_checkpoints` allow-lists exactly those objects, and
keeps everything else refused, with an error that names the file.
"""
import os.path as osp
import pickle
import re

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'UntrustedCheckpointError',
    'allow_mmengine_checkpoints', 'load_from_local_weights_only'
]

# What numpy pickles an ndarray or a numpy scalar into, under the module path
# numpy 2 writes (``numpy._core``) and the one numpy 1.x wrote
# (``numpy.core``), so that checkpoints saved with either load.
_NUMPY_ARRAY_GLOBALS = tuple(
    (function, f'{path}.multiarray.{function.__name__}')
    for path in ('numpy._core', 'numpy.core')
    for function in (np._core.multiarray._reconstruct,
                     np._core.multiarray.scalar)) + (np.ndarray, np.dtype)

# A dtype unpickles as an instance of its class: float64 and int64 are the
# history buffers' values and counts, float32 the best score of
# CheckpointHook(save_best=...), a numpy scalar from IoUMetric.
_NUMPY_DTYPE_CLASSES = (np.dtypes.Float64DType, np.dtypes.Int64DType,
                        np.dtypes.Float32DType)

# HistoryBuffer pickles its statistics methods (min, max, current, mean) and
# pickle protocol 2 writes a method as getattr(HistoryBuffer, 'min').
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner: object, name: str):
    """Stand-in for ``getattr`` that resolves only HistoryBuffer's methods.

    Allowing the real ``getattr`` would let a checkpoint reach any attribute
    of any allowed object (``getattr.__self__`` is the builtins module).
    """
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    owner_name = '.'.join(
        filter(None, (getattr(owner, '__module__', None),
                      getattr(owner, '__qualname__', type(owner).__name__))))
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL {owner_name}.{name} (through getattr) '
        'is not a HistoryBuffer statistics method.')


MMENGINE_CHECKPOINT_GLOBALS = (
    (HistoryBuffer, (_history_buffer_method, 'builtins.getattr')) +
    _NUMPY_ARRAY_GLOBALS + _NUMPY_DTYPE_CLASSES)
"""tuple: Every global, besides torch's own, that an mmengine runner writes
into a checkpoint, in the form ``torch.serialization.add_safe_globals`` takes
(a global, or a pair of a stand-in and the name the pickle uses)."""

# How torch names the refused global: one that is not allowed at all, or an
# instance of a class that is not allowed to have its state set.
_REFUSED_GLOBAL = re.compile(
    r"Unsupported global: GLOBAL (\S+)|but got <class '([^']+)'>")


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds an object outside torch's and mmengine's safe list.

    Args:
        filename (str): The checkpoint file.
        global_name (str): The refused global, as ``module.name``, or
            ``'unknown'`` when torch's message did not say.
    """

    def __init__(self, filename: str, global_name: str) -> None:
        self.filename = filename
        self.global_name = global_name
        super().__init__(
            f'Refused to load checkpoint {filename}: it holds the object '
            f'{global_name}, which is neither a tensor nor one of the objects '
            'mmengine writes into checkpoints, and unpickling it could run '
            'arbitrary code. Only load checkpoints you trust. A model from '
            'another codebase should be converted to a plain state dict with '
            'the matching script in tools/model_converters/; if you trust '
            'this file and its class, allow-list it with '
            f'torch.serialization.add_safe_globals([{global_name}]) before '
            'loading.')


def load_from_local_weights_only(filename: str, map_location=None) -> dict:
    """Load a local checkpoint with torch's weights-only unpickler.

    :func:`allow_mmengine_checkpoints` makes this mmengine's loader of local
    paths; mmengine logs the part of the name after ``load_from_`` as the
    backend.

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str | torch.device | callable, optional): Same as
            :func:`torch.load`. Defaults to None.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        UntrustedCheckpointError: The file holds a global that is not
            allow-listed; the message names the file and the global.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = _REFUSED_GLOBAL.search(str(error))
        global_name = (next(filter(None, found.groups()))
                       if found else 'unknown')
        raise UntrustedCheckpointError(filename, global_name) from error


def allow_mmengine_checkpoints() -> None:
    """Let weights-only ``torch.load`` read the checkpoints mmengine writes.

    Adds :data:`MMENGINE_CHECKPOINT_GLOBALS` to torch's safe globals and makes
    mmengine load local checkpoints through
    :func:`load_from_local_weights_only`, so that any other object in a
    checkpoint raises :class:`UntrustedCheckpointError` naming the file.
    ``weights_only`` stays on. Calling it again changes nothing.
    """
    torch.serialization.add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
    # mmengine registers its local loader under the empty prefix, which every
    # path matches after the URL schemes; replace it, keeping those.
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_weights_only, force=True)
