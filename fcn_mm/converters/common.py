"""What every weight converter shares: reading a foreign checkpoint, checking
it against a table of expected keys and shapes, and writing the result.

A converter describes the source as a table ``{source key: (target key,
source shape, target shape)}`` built from the widths it reads off the source;
:func:`apply_table` then refuses any missing key, unknown key or wrong shape
with a message that names the key, and reshapes where the layouts differ
(fully connected weights that become convolutions). The written checkpoint is
mmengine's ``{'state_dict': ..., 'meta': ...}``, holding only tensors and plain
Python values, so torch's weights-only loader reads it.
"""
import os
from collections import OrderedDict
from typing import Dict, Iterable, Mapping, Optional, Tuple

import torch
from torch import Tensor

from ..engine.checkpoint import (MMENGINE_CHECKPOINT_GLOBALS,
                                UntrustedCheckpointError,
                                load_from_local_weights_only)
from ..fileio import atomic_write

__all__ = [
    'ConversionError', 'Shape', 'Table', 'apply_table', 'load_source',
    'require_keys', 'save_checkpoint', 'unwrap_state_dict'
]

Shape = Tuple[int, ...]
# source key -> (target key, shape in the source, shape in the target)
Table = Dict[str, Tuple[str, Shape, Shape]]

# Keys under which training scripts nest the weights: pytorch-fcn's Trainer
# writes 'model_state_dict', mmengine and many others 'state_dict'.
WRAPPER_KEYS = ('model_state_dict', 'state_dict')
# How many key names an error message lists before "and N more".
MAX_LISTED = 8


class ConversionError(ValueError):
    """Raised when a checkpoint does not have the layout a converter reads."""


def _listed(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:MAX_LISTED])
    more = len(keys) - MAX_LISTED
    return shown + (f' and {more} more' if more > 0 else '')


def load_source(path: str) -> dict:
    """Read a checkpoint to convert, with torch's weights-only unpickler.

    Numpy scalars (which training scripts store as metrics, e.g. pytorch-fcn's
    ``best_mean_iu``) are allowed, anything else that is not a tensor or a
    plain Python value is refused.

    Args:
        path (str): The checkpoint file.

    Returns:
        dict: What the file holds.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        fcn_mm.engine.UntrustedCheckpointError: The file holds other objects.
        ConversionError: The file is not a torch checkpoint at all.
    """
    try:
        with torch.serialization.safe_globals(
                list(MMENGINE_CHECKPOINT_GLOBALS)):
            return load_from_local_weights_only(path, map_location='cpu')
    except (FileNotFoundError, UntrustedCheckpointError):
        raise
    except Exception as error:  # torch's errors for a foreign file vary
        raise ConversionError(
            f'cannot read {path} as a torch checkpoint '
            f'({type(error).__name__}: {error}); expected a file written by '
            'torch.save') from error


def unwrap_state_dict(checkpoint: Mapping) -> Dict[str, Tensor]:
    """The weights of a checkpoint, whether bare or nested in a training one.

    Accepts a bare state dict or one under ``'model_state_dict'`` or
    ``'state_dict'``, and drops the ``module.`` prefix that
    ``nn.DataParallel`` adds.

    Args:
        checkpoint (Mapping): What :func:`load_source` returned.

    Returns:
        dict: Parameter name -> tensor.

    Raises:
        ConversionError: Nothing in ``checkpoint`` looks like weights.
    """
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(
            'expected a state dict (a mapping of names to tensors), found a '
            f'{type(checkpoint).__name__}; save the model with '
            'torch.save(model.state_dict(), path)')
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    not_tensors = [k for k, v in checkpoint.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise ConversionError(
            'expected a state dict of tensors, or a checkpoint holding one '
            f'under {" or ".join(map(repr, WRAPPER_KEYS))}; found non-tensor '
            f'entries: {_listed(not_tensors)}')
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in checkpoint.items()}


def require_keys(state_dict: Mapping, keys: Iterable[str],
                 source: str) -> None:
    """Raise :class:`ConversionError` naming any of ``keys`` that is missing.

    Args:
        state_dict (Mapping): The source weights.
        keys (Iterable[str]): Keys the converter must read before it can
            build its table (those it takes widths from).
        source (str): The expected source format, for the message.
    """
    missing = [k for k in keys if k not in state_dict]
    if missing:
        raise ConversionError(
            f'missing key(s) {_listed(missing)}: this is not a {source} '
            f'state dict (found keys such as {_listed(list(state_dict)[:3])})')


def apply_table(state_dict: Mapping[str, Tensor], table: Table, *,
                source: str,
                dropped: Iterable[str] = ()) -> 'OrderedDict[str, Tensor]':
    """Rename and reshape ``state_dict`` by ``table``, checking everything.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights.
        table (Table): Every source key the format has, with its target key,
            its expected source shape and its target shape.
        source (str): The source format, for messages
            (e.g. ``'pytorch-fcn FCN8s'``).
        dropped (Iterable[str]): Source keys that are known and not converted
            (e.g. ImageNet's classifier). Defaults to ().

    Returns:
        OrderedDict[str, Tensor]: Target key -> tensor, in table order.

    Raises:
        ConversionError: A key of the table is missing, a key is neither in the
            table nor dropped, or a tensor has another shape than expected.
    """
    dropped = set(dropped)
    missing = [k for k in table if k not in state_dict]
    if missing:
        raise ConversionError(
            f'missing key(s) {_listed(missing)} in the {source} state dict; '
            'the checkpoint is incomplete or of another variant')
    unknown = [k for k in state_dict if k not in table and k not in dropped]
    if unknown:
        raise ConversionError(
            f'unexpected key(s) {_listed(unknown)} in the {source} state '
            'dict; it holds layers this format does not have: check the '
            'variant and that the checkpoint is the one meant')
    converted = OrderedDict()
    for key, (target, shape, target_shape) in table.items():
        tensor = state_dict[key]
        if tuple(tensor.shape) != tuple(shape):
            raise ConversionError(
                f'{key}: expected shape {tuple(shape)} in a {source} state '
                f'dict whose widths are read off its other layers, found '
                f'{tuple(tensor.shape)}; the checkpoint is corrupt or mixes '
                'layers of different models')
        converted[target] = tensor.detach().reshape(target_shape).contiguous()
    return converted


def save_checkpoint(state_dict: Mapping[str, Tensor], path: str,
                    meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` to ``path`` atomically.

    The file is written beside ``path`` under a temporary name and renamed,
    so ``path`` never holds a half-written checkpoint. Missing parent folders
    are created.

    Args:
        state_dict (Mapping[str, Tensor]): The converted weights.
        path (str): Destination file.
        meta (dict, optional): Plain Python values describing the conversion.
            Defaults to None (empty).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    checkpoint = dict(
        state_dict=OrderedDict(state_dict), meta=dict(meta or {}))
    atomic_write(path, lambda f: torch.save(checkpoint, f))
