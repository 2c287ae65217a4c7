"""Loading mmengine checkpoints with torch >= 2.6, whose load is weights-only.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so torch's
default safe unpickler refuses the non-tensor objects a runner writes into
every checkpoint (the message hub's ``HistoryBuffer`` and the numpy arrays in
it). :func:`allow_mmengine_checkpoints` allow-lists exactly those objects, and
keeps everything else refused, with an error that names the file.

Checkpoints that fcn_mm's ``AtomicCheckpointHook`` wrote carry a sha256
sidecar (``iter_8.pth.sha256``, the format of ``sha256sum``), checked at every
load; an empty, truncated, altered or non-checkpoint file is refused with the
reason, see :func:`checkpoint_problem`.
"""
import hashlib
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'CHECKSUM_SUFFIX',
    'CorruptCheckpointError', 'UntrustedCheckpointError',
    'allow_mmengine_checkpoints', 'checkpoint_problem', 'file_sha256',
    'load_from_local_weights_only'
]

CHECKSUM_SUFFIX = '.sha256'
# A zip archive (torch >= 1.6), or a legacy pickle (first byte: PROTO).
_CHECKPOINT_MAGIC = (b'PK\x03\x04', b'\x80')

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

# How torch names the refused global: one that is not allowed at all
# ("Unsupported global: GLOBAL x.Y was not an allowed global"), one from a
# blocked module ("unsupported GLOBAL posix.system whose module posix is
# blocked", torch 2.13), or an instance of a class that is not allowed to
# have its state set.
_REFUSED_GLOBAL = re.compile(
    r"GLOBAL ([\w.]+)|but got <class '([^']+)'>")


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds an object outside torch's and mmengine's safe list.

    Args:
        filename (str): The checkpoint file.
        global_name (str): The refused global, as ``module.name``.
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


class CorruptCheckpointError(ValueError):
    """A checkpoint file is empty, truncated, altered or no checkpoint at all.

    Args:
        filename (str): The checkpoint file.
        reason (str): What is wrong with it.
    """

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(
            f'Cannot load checkpoint {filename}: {reason}. Use an older '
            'checkpoint of the run (tools/train.py --resume picks the newest '
            'intact one) or copy the file again from its source.')


def file_sha256(path: str) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'sha256').hexdigest()


def checkpoint_problem(filename: str,
                       *,
                       test_zip: bool = False) -> Optional[str]:
    """Why a local checkpoint file cannot be used, or None if it can.

    Finds a missing or empty file, one that is no checkpoint (a text or HTML
    file), and one whose sha256 differs from its sidecar
    ``<file>.sha256`` (written by ``AtomicCheckpointHook``: truncated or
    altered since). Without a sidecar, ``test_zip`` checks the CRC32 that
    torch stores for every record instead.

    Args:
        filename (str): The checkpoint file.
        test_zip (bool): Read the whole file to check its CRCs when there is
            no sidecar. Defaults to False.

    Returns:
        str | None: The reason, or None.
    """
    if not osp.isfile(filename):
        return 'there is no such file'
    size = os.path.getsize(filename)
    if size == 0:
        return ('the file is empty (0 bytes), as a write interrupted by a '
                'kill or a full disk leaves it')
    with open(filename, 'rb') as f:
        head = f.read(4)
    if not head.startswith(_CHECKPOINT_MAGIC):
        return (f'it is not a checkpoint: it starts with {head!r}, not with '
                "a zip archive's or a pickle's first bytes (a text or HTML "
                'file saved under a checkpoint name?)')
    sidecar = filename + CHECKSUM_SUFFIX
    if osp.isfile(sidecar):
        with open(sidecar) as f:
            expected = (f.read().split() or ['nothing'])[0]
        found = file_sha256(filename)
        if found != expected:
            return (f'its sha256 is {found}, not the {expected} recorded in '
                    f'{sidecar} when it was saved: the file was truncated or '
                    'altered since')
    elif test_zip and head.startswith(_CHECKPOINT_MAGIC[0]):
        try:
            with zipfile.ZipFile(filename) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as error:
            return f'it is a broken zip archive, truncated? ({error})'
        if bad is not None:
            return f'its record {bad} fails its CRC check (altered bytes)'
    return None


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
        CorruptCheckpointError: The file is empty, truncated, altered (its
            sha256 differs from its sidecar's) or not a checkpoint.
        UntrustedCheckpointError: The file holds a global that is not
            allow-listed; the message names the file and the global.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    problem = checkpoint_problem(filename)
    if problem:
        raise CorruptCheckpointError(filename, problem)
    # Again: torch's safe_globals() context removes these on exit. Idempotent.
    torch.serialization.add_safe_globals(list(MMENGINE_CHECKPOINT_GLOBALS))
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = _REFUSED_GLOBAL.search(str(error))
        if not found:
            raise CorruptCheckpointError(
                filename, f'it does not unpickle ({error})') from error
        raise UntrustedCheckpointError(
            filename, next(filter(None, found.groups()))) from error
    except (RuntimeError, EOFError, KeyError, ValueError) as error:
        # torch's zip reader: "failed finding central directory" (cut off),
        # "invalid header or archive is corrupted"; a legacy pickle cut off
        # gives EOFError.
        raise CorruptCheckpointError(
            filename, 'it is truncated or corrupt: torch.load failed with '
            f'{type(error).__name__}: {str(error).splitlines()[0][:200]}'
        ) from error


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
