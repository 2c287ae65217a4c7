"""What every weight converter shares at its ends: reading a foreign
checkpoint (weights only), the dataset a converted model predicts, and writing
the result atomically.

The written checkpoint is mmengine's ``{'state_dict': ..., 'meta': ...}``,
holding only tensors and plain Python values, so torch's weights-only loader
reads it. :mod:`.runner` does the conversion between the two ends.
"""
import os
from collections import OrderedDict
from typing import Dict, Iterable, Mapping, Optional

import torch
from torch import Tensor

from mmseg.registry import DATASETS

from ..engine.checkpoint import (CHECKSUM_SUFFIX, CorruptCheckpointError,
                                UntrustedCheckpointError,
                                load_from_local_weights_only, write_checksum)
from ..errors import FcnMmError
from ..fileio import atomic_write

__all__ = [
    'ConversionError', 'dataset_meta', 'listed', 'load_source',
    'save_checkpoint', 'unwrap_state_dict'
]

# Keys under which training scripts nest the weights: pytorch-fcn's Trainer
# writes 'model_state_dict', mmengine and many others 'state_dict'.
WRAPPER_KEYS = ('model_state_dict', 'state_dict')
# How many key names an error message lists before "and N more".
MAX_LISTED = 8


class ConversionError(FcnMmError, ValueError):
    """Raised when a checkpoint does not have the layout a converter reads."""


def listed(keys: Iterable[str]) -> str:
    """Sorted key names, the first few of them, for a message."""
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
        ConversionError: The file is not a torch checkpoint at all, or its
            bytes were altered (a zip record fails its CRC-32, or the file
            its sha256 sidecar).
    """
    try:
        return load_from_local_weights_only(path, map_location='cpu')
    except (FileNotFoundError, UntrustedCheckpointError):
        raise
    except CorruptCheckpointError as error:  # names the file and the fault
        raise ConversionError(str(error)) from error
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
            f'entries: {listed(not_tensors)}')
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in checkpoint.items()}


def dataset_meta(dataset: str, num_classes: int) -> Dict:
    """The class names and palette of mmseg's ``dataset`` class, for a
    converted checkpoint's meta, if its model predicts that many classes.

    Args:
        dataset (str): An mmseg dataset type, e.g. ``'PascalVOCDataset'``.
        num_classes (int): Classes the converted model predicts.

    Returns:
        dict: ``{'dataset_meta': {'classes': [...], 'palette': [...]}}``, or
        ``{}`` when the dataset has another number of classes.
    """
    meta = DATASETS.get(dataset).METAINFO
    if len(meta['classes']) != num_classes:
        return {}
    return dict(dataset_meta=dict(
        classes=list(meta['classes']),
        palette=[list(color) for color in meta['palette']]))


def save_checkpoint(state_dict: Mapping[str, Tensor], path: str,
                    meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` to ``path`` atomically.

    The file is written beside ``path`` under a temporary name and renamed,
    so ``path`` never holds a half-written checkpoint. Missing parent folders
    are created. Its sha256 goes to ``<path>.sha256`` after it, so that
    every load checks it (the sidecar of a file being replaced goes first).

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
    if os.path.isfile(path + CHECKSUM_SUFFIX):
        os.remove(path + CHECKSUM_SUFFIX)
    atomic_write(path, lambda f: torch.save(checkpoint, f))
    write_checksum(path)
