"""The one conversion runner: a name table, checked against the model itself.

A converter is a table of rules ``(fcn_mm key pattern, source key)``: for
every key of the target model, the key of the source checkpoint it is read
from. The expected keys and shapes are the target model's own, built on the
meta device (no memory is allocated), so no converter repeats a model's layer
loop: when a model changes, the check follows it. This is the idea of timm's
``checkpoint_filter_fn`` (``timm/models/vgg.py``), which reads shapes off the
model it loads into.

The table runs from target to source so that every error names a key of the
file the user has: a missing key, a key no rule reads, a tensor of the wrong
shape.
"""
import copy
import inspect
import math
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence
from typing import Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch import Tensor

from mmseg.registry import MODELS

from .common import ConversionError, listed

__all__ = [
    'Rule', 'CONFIG_ROOT', 'convert', 'read_shape', 'shifted', 'source_key',
    'target_model'
]

# (regular expression matched at the start of an fcn_mm key, the source key's
# start: a re template such as r'pretrained.\1.' or a function of the match);
# the rest of the key is the same in both.
Rule = Tuple[str, Union[str, Callable[[re.Match], str]]]
# The configs/ folder of a source checkout, beside the package.
CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'
LOSS_WARNINGS = ('``build_loss`` would be deprecated',
                 'Default ``avg_non_ignore`` is False')
# Written by torch >= 0.4.1 and read only with momentum=None: optional.
OPTIONAL_SUFFIX = '.num_batches_tracked'


def shifted(template: str, offset: int) -> Callable[[re.Match], str]:
    """A rule's source for layers numbered from another origin: ``template``
    (the source key's start) with ``{}`` filled by the rule's first group plus
    ``offset``."""
    return lambda match: template.format(int(match[1]) + offset)


def source_key(rules: Sequence[Rule], key: str) -> Optional[str]:
    """The source key that fcn_mm's ``key`` is read from, by the first rule
    whose pattern matches it; None when none does."""
    for pattern, source in rules:
        match = re.match(pattern, key)
        if match:
            start = source(match) if callable(source) else match.expand(source)
            return start + key[match.end():]
    return None


def read_shape(state_dict: Mapping[str, Tensor], rules: Sequence[Rule],
               key: str, source: str, *, ndim: int = 1) -> torch.Size:
    """The shape of the source tensor behind fcn_mm's ``key``, for converters
    that read widths off the source before they know the target.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights.
        rules (Sequence[Rule]): The converter's name table.
        key (str): The fcn_mm key.
        source (str): The source format, for messages.
        ndim (int): Dimensions the tensor must have at least. Defaults to 1.

    Raises:
        ConversionError: The source has no such key, or a tensor of fewer
            dimensions.
    """
    name = source_key(rules, key)
    if name not in state_dict:
        raise ConversionError(
            f'missing key {name}: this is not a {source} state dict (found '
            f'keys such as {listed(list(state_dict)[:3])})')
    shape = state_dict[name].shape
    if len(shape) < ndim:
        raise ConversionError(
            f'{name}: expected a tensor of {ndim} or more dimensions in a '
            f'{source} state dict, found shape {tuple(shape)}')
    return shape


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively, to compare config values."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _current(model: ConfigDict, dotted: str) -> Any:
    """The value at ``dotted`` in a model config, or its class default."""
    *path, name = dotted.split('.')
    node = model
    for part in path:
        node = node[part]
    if name in node:
        return node[name]
    parameters = inspect.signature(MODELS.get(node['type'])).parameters
    parameter = parameters.get(name)
    return inspect.Parameter.empty if parameter is None else parameter.default


def target_model(config: str, values: Mapping[str, Any], *,
                 preset: Optional[Mapping[str, Any]] = None
                 ) -> Tuple[ConfigDict, Dict[str, Any]]:
    """The model of ``configs/<config>`` with the values read off a source.

    Args:
        config (str): The config, relative to ``configs/``.
        values (Mapping[str, Any]): Model settings the source fixes, keyed
            relative to ``model`` (``'decode_head.num_classes'``).
        preset (Mapping[str, Any], optional): Settings applied first and not
            reported (what a leaf config sets over the base named here).
            Defaults to None.

    Returns:
        tuple[ConfigDict, dict]: The model config, and the ``--cfg-options``
        (``'model.'`` keys) by which the source differs from the config.

    Raises:
        FileNotFoundError: The config is not there (an installed package
            without its source checkout).
    """
    path = CONFIG_ROOT / config
    if not path.is_file():
        raise FileNotFoundError(
            f'no config {path}: converting to a config needs fcn_mm\'s '
            'configs/ folder, which comes with its source checkout (git clone '
            'the repository and pip install -e it)')
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict({f'model.{k}': v for k, v in (preset or {}).items()})
    options = {
        f'model.{key}': value
        for key, value in values.items()
        if _plain(_current(cfg.model, key)) != _plain(value)
    }
    cfg.merge_from_dict(options)
    return cfg.model, options


def _fit(tensor: Tensor, shape: torch.Size) -> Optional[Tensor]:
    """``tensor`` in ``shape``, or None if it does not fit. A fully connected
    weight over a flattened (C, H, W) map fits the (out, C, H, W) conv it
    becomes: the conv kernel has the same memory order (FCN, Sec. 3.1)."""
    if tensor.shape != shape and not (
            tensor.dim() == 2 and len(shape) == 4
            and tensor.shape == (shape[0], math.prod(shape[1:]))):
        return None
    return tensor.detach().reshape(shape).contiguous()


def _not_finite(tensor: Tensor) -> bool:
    """Whether a floating tensor with values (not on the meta device) holds
    NaN or infinity, which would make every prediction NaN."""
    return (tensor.is_floating_point() and not tensor.is_meta
            and not bool(torch.isfinite(tensor).all()))


def _meta_state_dict(model: Mapping) -> Dict[str, Tensor]:
    """The state dict of the model ``model`` configures, on the meta device."""
    with warnings.catch_warnings():
        # mmseg's heads warn about their loss defaults whenever one is built;
        # here the model is built for its shapes only.
        for message in LOSS_WARNINGS:
            warnings.filterwarnings('ignore', message=message)
        with DefaultScope.overwrite_default_scope('mmseg'), torch.device(
                'meta'):
            return MODELS.build(copy.deepcopy(model)).state_dict()


def convert(state_dict: Mapping[str, Tensor], rules: Sequence[Rule], *,
            model: Mapping, source: str, target: str,
            dropped: Iterable[str] = ()) -> 'OrderedDict[str, Tensor]':
    """Read every tensor of the target model from the source by ``rules``.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights.
        rules (Sequence[Rule]): The converter's name table.
        model (Mapping): Config of the target model, built on the meta device
            for its keys and shapes.
        source (str): The source format, for messages.
        target (str): The target (a config), for messages.
        dropped (Iterable[str]): Source keys known and not converted (an
            ImageNet classifier). Defaults to ().

    Returns:
        OrderedDict[str, Tensor]: The target's state dict, in its order.

    Raises:
        ConversionError: Source keys are missing, unread, misshapen or hold
            NaN; one message names them all.
    """
    expected = _meta_state_dict(model)
    converted, read, missing, misfits = OrderedDict(), set(), [], []
    for key, value in expected.items():
        name = source_key(rules, key)
        if name is None:  # the model gained a layer the table does not know
            raise ConversionError(
                f'{target} has {key}, which no rule of the {source} converter '
                'reads: the model changed; add a rule to its table')
        if name not in state_dict:
            if not key.endswith(OPTIONAL_SUFFIX):
                missing.append(name)
            continue
        read.add(name)
        tensor = _fit(state_dict[name], value.shape)
        if tensor is None:
            misfits.append(
                f'{name}: expected shape {tuple(value.shape)} (for {key}), '
                f'found {tuple(state_dict[name].shape)}')
        elif _not_finite(tensor):
            misfits.append(f'{name}: holds NaN or infinite values')
        converted[key] = tensor
    known = read | set(dropped)
    unexpected = [k for k in state_dict if k not in known]
    problems = misfits[:3]
    if len(misfits) > 3:
        problems.append(f'{len(misfits) - 3} more such keys')
    if missing:
        problems.append(f'missing key(s) {listed(missing)}, which {target} '
                        'has')
    if unexpected:
        problems.append(f'unexpected key(s) {listed(unexpected)}, layers that '
                        f'{target} does not have')
    if problems:
        raise ConversionError(
            '; '.join(problems) + f'. The {source} checkpoint does not fit '
            f'{target}: it is incomplete, corrupt or of another variant; '
            'check that it is the checkpoint meant')
    return converted
