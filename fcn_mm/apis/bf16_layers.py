"""Which layers of a segmentor the CPU fast path runs in bf16, and which not.

Under bf16 autocast every convolution returns bfloat16, whose 8-bit mantissa
rounds logits by up to 0.4%: enough to swap the two best classes wherever they
are close. The classifiers (the decode heads' convolutions that output one
channel per class: ``conv_seg``, FCN's ``score_*`` and ``upscore*``) are a
sliver of the work, so they run in float32 on float32 inputs; everything else
may hold its weights in bfloat16 once bf16 is chosen, which saves autocast
from casting them again on every call.
"""
import functools
from typing import List

import torch
import torch.nn as nn

__all__ = [
    'Float32Layer', 'classifier_layers', 'keep_float32', 'cast_weights_to_bf16'
]

CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def classifier_layers(segmentor: nn.Module) -> List[nn.Module]:
    """The convolutions of the decode head(s) with one output per class."""
    heads = segmentor.decode_head
    heads = list(heads) if isinstance(heads, nn.ModuleList) else [heads]
    return [
        layer for head in heads for layer in head.modules()
        if isinstance(layer, CONVS) and layer.out_channels == head.out_channels
    ]


class Float32Layer:
    """Mixin: the layer runs in float32 on a float32 input, in autocast too."""

    def forward(self, x, *args, **kwargs):
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float(), *args, **kwargs)


@functools.lru_cache(maxsize=None)
def _float32_class(cls: type) -> type:
    return type(f'Float32{cls.__name__}', (Float32Layer, cls), {})


def keep_float32(layer: nn.Module) -> None:
    """Make ``layer`` run in float32 on a float32 input, inside autocast too.

    The instance becomes a subclass of its class with that ``forward``: its
    parameters and state-dict keys do not change (checkpoints load as
    before), and a deep copy stays float32.
    """
    if not isinstance(layer, Float32Layer):
        layer.__class__ = _float32_class(type(layer))


def cast_weights_to_bf16(segmentor: nn.Module) -> None:
    """Store the weights of every convolution but the float32 classifiers in
    bfloat16: what autocast would cast them to on each call, once."""
    for layer in segmentor.modules():
        if isinstance(layer, CONVS) and not isinstance(layer, Float32Layer):
            layer.to(torch.bfloat16)
