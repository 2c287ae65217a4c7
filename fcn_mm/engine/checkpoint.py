"""Loading mmengine checkpoints with torch >= 2.6, whose load is weights-only.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so torch's
default safe unpickler refuses the non-tensor objects a runner writes into
every checkpoint (the message hub's ``HistoryBuffer`` and the numpy arrays in
it). :func:`allow_mmengine_checkpoints` allow-lists exactly those objects, and
keeps everything else refused, with an error that names the file.

Every load verifies the bytes first (:func:`checkpoint_problem`): against
the sha256 sidecar (``iter_8.pth.sha256``, the format of ``sha256sum``) that
fcn_mm's ``AtomicCheckpointHook`` and converters write, else against the
CRC-32 that torch's zip writer records for every member, which torch's own
reader never checks. An empty, truncated, altered or non-checkpoint file is
refused with the reason. A legacy (non-zip, torch < 1.6) file has no
checksums: without a sidecar only its first byte, its pickle and torch's
storage sizes are checked, and the load logs a warning saying so.

:class:`CheckpointFitHook` then compares the checkpoint's keys and shapes with
the model's: testing and resuming refuse any difference, naming the keys;
fine-tuning (``load_from`` in training) skips what does not fit, in one log
line.
"""
import hashlib
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import List, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.runner.checkpoint import (CheckpointLoader,
                                        _load_checkpoint_to_model)
from mmseg.registry import HOOKS
from torch import nn

from ..errors import FcnMmError
from ..fileio import atomic_write

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'CHECKSUM_SUFFIX', 'CheckpointFitHook',
    'CheckpointMismatchError', 'CorruptCheckpointError',
    'UntrustedCheckpointError', 'allow_mmengine_checkpoints',
    'checkpoint_problem', 'file_sha256', 'fit_checkpoint_to_model',
    'load_fitting_checkpoint', 'load_from_local_weights_only',
    'write_checksum'
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


class UntrustedCheckpointError(FcnMmError, pickle.UnpicklingError):
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


class CorruptCheckpointError(FcnMmError, ValueError):
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
                unrecorded = bad is not None and archive.getinfo(bad).CRC == 0
        except (zipfile.BadZipFile, OSError) as error:
            return ('it is truncated or corrupt: its zip directory cannot '
                    f'be read ({error})')
        # torch.serialization.set_crc32_options(False) records 0 for every
        # member: nothing to check against, not altered bytes.
        if bad is not None and not unrecorded:
            return (f'its record {bad} fails its CRC-32 check: bytes were '
                    'altered since it was saved')
    return None


def _unverified(filename: str) -> Optional[str]:
    """Why the bytes of ``filename`` could not be verified, or None.

    For a file :func:`checkpoint_problem` passed with ``test_zip=True``.
    """
    if osp.isfile(filename + CHECKSUM_SUFFIX):
        return None
    with open(filename, 'rb') as f:
        head = f.read(4)
    if not head.startswith(_CHECKPOINT_MAGIC[0]):
        return ('it is a legacy (non-zip) torch file without a '
                f'{CHECKSUM_SUFFIX} sidecar: it holds no checksums, so '
                'altered tensor bytes cannot be detected')
    with zipfile.ZipFile(filename) as archive:
        if any(info.CRC == 0 and info.file_size > 0
               for info in archive.infolist()):
            return ('it was saved without CRC-32s '
                    '(torch.serialization.set_crc32_options(False)) '
                    f'and has no {CHECKSUM_SUFFIX} sidecar')
    return None


def write_checksum(path: str) -> str:
    """Write the sha256 sidecar ``<path>.sha256`` of a finished file.

    The format is ``sha256sum``'s, so ``sha256sum -c`` checks it too; every
    load of ``path`` checks it (:func:`checkpoint_problem`).

    Args:
        path (str): The file, complete.

    Returns:
        str: The sidecar's path.
    """
    sidecar = path + CHECKSUM_SUFFIX
    line = f'{file_sha256(path)}  {osp.basename(path)}\n'
    atomic_write(sidecar, lambda f: f.write(line.encode()), fsync=True)
    return sidecar


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
            sha256 differs from its sidecar's, or without a sidecar a zip
            member fails its CRC-32) or not a checkpoint.
        UntrustedCheckpointError: The file holds a global that is not
            allow-listed; the message names the file and the global.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    problem = checkpoint_problem(filename, test_zip=True)
    if problem:
        raise CorruptCheckpointError(filename, problem)
    unverified = _unverified(filename)
    if unverified:
        MMLogger.get_current_instance().warning(
            f'Loading checkpoint {filename} unverified: {unverified}. If you '
            f'know it is intact, record its sha256 with sha256sum {filename} '
            f'> {filename}{CHECKSUM_SUFFIX} so that later changes are found.')
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


class CheckpointMismatchError(FcnMmError, ValueError):
    """A checkpoint's keys or shapes differ from the model's where they must
    be equal: testing, predicting, resuming.

    Args:
        filename (str): The checkpoint file.
        problems (list[str]): Each key that differs, with both shapes.
        resuming (bool): Whether the checkpoint was to be resumed from.
            Defaults to False.
    """

    def __init__(self, filename: str, problems: List[str], *,
                 resuming: bool = False) -> None:
        self.filename = filename
        self.problems = problems
        use = 'resuming from it' if resuming else 'testing with it'
        super().__init__(
            f'Checkpoint {filename} does not fit the model of the config: '
            f'{"; ".join(problems)}. It was trained for another model or '
            f'class count, and {use} would leave those layers random. To '
            f'fine-tune from it, train with --cfg-options load_from='
            f'{filename}, which skips the keys that do not fit; otherwise '
            "give this config's own checkpoint.")


def _model_itself(model: nn.Module) -> nn.Module:
    """The model inside DDP, fast-path and TTA wrappers, whose state dict
    mmengine's ``load_state_dict`` fills."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _shown(keys: List[str], limit: int = 8) -> str:
    """At most ``limit`` keys, then how many more."""
    more = len(keys) - limit
    return ', '.join(keys[:limit]) + (f' and {more} more' if more > 0 else '')


def fit_checkpoint_to_model(model: nn.Module,
                            checkpoint: dict,
                            *,
                            filename: str,
                            strict: bool,
                            revise: str = r'^module\.') -> List[str]:
    """Compare a checkpoint's keys and shapes with the model's.

    ``strict`` refuses any missing, unexpected or misshapen key. Otherwise
    those keys are dropped from the checkpoint and the model's own tensors
    take their place, so that mmengine's loader finds an exact match and the
    skipped layers keep their initialisation (fine-tuning); mmengine's
    multi-line mismatch warning then gives way to the caller's one line.
    BN's ``num_batches_tracked`` may be missing, as mmengine allows.

    Args:
        model (nn.Module): The model, possibly wrapped.
        checkpoint (dict): As loaded; its ``state_dict`` (or itself) is
            changed in place when not ``strict``.
        filename (str): The checkpoint's path, for messages.
        strict (bool): Refuse any difference.
        revise (str): Prefix that mmengine strips from checkpoint keys before
            loading. Defaults to ``'^module\\.'`` (``Runner.load_checkpoint``).

    Returns:
        list[str]: The keys skipped, each with the reason.

    Raises:
        CheckpointMismatchError: ``strict`` and the keys or shapes differ.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    own = _model_itself(model).state_dict()
    names = {re.sub(revise, '', key): key for key in state_dict}
    problems, dropped, filled = [], [], []
    for name, key in names.items():
        if name not in own:
            problems.append(f'{name}: in the checkpoint, not in the model')
            dropped.append(key)
            continue
        found = tuple(getattr(state_dict[key], 'shape', ()))
        expected = tuple(own[name].shape)
        if found != expected:
            problems.append(
                f'{name}: checkpoint {found}, model {expected}')
            dropped.append(key)
            filled.append(name)
    for name in own:
        if name not in names and not name.endswith('num_batches_tracked'):
            problems.append(f'{name}: in the model, not in the checkpoint')
            filled.append(name)
    if problems and strict:
        raise CheckpointMismatchError(
            filename, problems if len(problems) <= 8 else problems[:8] +
            [f'{len(problems) - 8} more'])
    for key in dropped:
        del state_dict[key]
    for name in filled:
        state_dict[name] = own[name]
    return problems


def load_fitting_checkpoint(model: nn.Module,
                            filename: str,
                            *,
                            map_location: str = 'cpu') -> dict:
    """Load a checkpoint into a model for inference, refusing any misfit.

    mmengine's ``load_checkpoint`` with :func:`fit_checkpoint_to_model`
    (``strict``) between reading and filling: another class count is named,
    not replaced by random layers.

    Args:
        model (nn.Module): The model, built from its config.
        filename (str): The checkpoint, local or a URL.
        map_location (str): Same as :func:`torch.load`. Defaults to 'cpu'.

    Returns:
        dict: The checkpoint, e.g. for its ``meta``.

    Raises:
        CorruptCheckpointError: See :func:`load_from_local_weights_only`.
        UntrustedCheckpointError: See :func:`load_from_local_weights_only`.
        CheckpointMismatchError: The keys or shapes differ from the model's.
    """
    checkpoint = CheckpointLoader.load_checkpoint(
        filename, map_location=map_location)
    fit_checkpoint_to_model(model, checkpoint, filename=filename, strict=True)
    # What Runner.load_checkpoint and mmseg's init_model call (0.10.7).
    _load_checkpoint_to_model(_model_itself(model), checkpoint)
    return checkpoint


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse a checkpoint that does not fit the model when testing,
    validating or resuming; when fine-tuning from ``load_from``, skip the
    keys that do not fit and name them in one log line.

    mmengine loads with ``strict=False`` everywhere and only logs ``size
    mismatch``: a checkpoint of another class count tested with its head
    re-initialised at random. This hook runs in ``Runner.load_checkpoint``,
    between reading the file and filling the model, which every load,
    ``load_from`` and resume alike, goes through.
    """

    priority = 'LOWEST'  # after hooks that rewrite keys (EMAHook)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Runner.load_or_resume reads these two attributes (mmengine 0.10.7).
        resuming = bool(runner._resume)
        filename = runner._load_from or 'the checkpoint resumed from'
        # Runner.train() builds the optim wrapper before loading; test() and
        # val() leave its config.
        training = isinstance(runner.optim_wrapper, OptimWrapper)
        strict = resuming or not training
        try:
            skipped = fit_checkpoint_to_model(
                runner.model, checkpoint, filename=filename, strict=strict)
        except CheckpointMismatchError as error:
            if resuming:
                raise CheckpointMismatchError(
                    filename, error.problems, resuming=True) from None
            raise
        if skipped:
            runner.logger.warning(
                f'load_from {filename}: skipped {len(skipped)} keys that do '
                f'not fit the model, which keep their initialisation: '
                f'{_shown(skipped)}.')
