"""The layers the CPU fast path runs differently, and how.

* **Float32 classifiers.** Under bf16 autocast every convolution returns
  bfloat16, whose 8-bit mantissa rounds logits by up to 0.4%: enough to swap
  the two best classes wherever they are close. The classifiers (the decode
  heads' convolutions that output one channel per class: ``conv_seg``, FCN's
  ``score_*`` and ``upscore*``) are a sliver of the work, so they run in
  float32 on float32 inputs; every other convolution may hold its weights in
  bfloat16 once bf16 is chosen, which saves autocast from casting them again
  on every call.
* **EncNet's Encoding as matrix products.** mmseg's ``Encoding`` forms the
  (batch, H*W, codes, channels) residuals twice, which at 64x64 x 32 codes
  x 512 channels costs a FastFCN + EncHead more than a third of its
  inference time. :class:`MatmulEncoding` computes the same two sums with
  ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2`` and ``sum_i a_ik (x_i - c_k) =
  (A^T X)_k - (sum_i a_ik) c_k``, in float32 (the scaled distances feed a
  softmax, where bf16 would flip the assignments).
* **Wide convolutions in channel chunks.** A convolution over 2048 or more
  input channels (PSPNet's bottleneck has 4096) can run faster on oneDNN as
  a sum of convolutions over 512-channel slices, each of whose weights fit
  the caches (1.2-1.6x in bf16 on a 2-core AVX512-BF16 CPU). That depends on
  the CPU, so :class:`ChunkedConv2d` times both forms on its first input of
  each shape and keeps the faster, as cuDNN's benchmark mode does.
"""
import contextlib
import functools
import time
from typing import Dict, Iterator, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.utils import Encoding
from torch import Tensor

__all__ = [
    'Float32Layer', 'classifier_layers', 'keep_float32',
    'cast_weights_to_bf16', 'MatmulEncoding', 'ChunkedConv2d',
    'matmul_encoding', 'speed_up_layers'
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


class MatmulEncoding(Encoding):
    """mmseg's ``Encoding`` with its residual sums as matrix products, in
    float32 (see the module docstring); same parameters and outputs."""

    def forward(self, x: Tensor) -> Tensor:
        autocast = torch.is_autocast_enabled(x.device.type)
        with (torch.autocast(x.device.type, enabled=False)
              if autocast else contextlib.nullcontext()):
            x = x.float().flatten(2).transpose(1, 2)  # (B, HW, C)
            codes = self.codewords  # (K, C)
            sq_dist = ((x * x).sum(2, keepdim=True) - 2 * x @ codes.t() +
                       (codes * codes).sum(1))  # (B, HW, K)
            weights = torch.softmax(self.scale * sq_dist, dim=2)
            return (weights.transpose(1, 2) @ x -
                    weights.sum(1).unsqueeze(2) * codes)  # (B, K, C)


class ChunkedConv2d(nn.Conv2d):
    """A ``Conv2d`` that may run as a sum over input-channel chunks.

    Attributes:
        chunk (int): Input channels a chunk. Defaults to 512.
        chunked (dict): Per (shape, dtype, channels_last) of the input,
            whether the chunked form runs; measured on the first such input
            unless set beforehand.
    """
    chunk = 512
    min_channels = 2048

    def _chunked(self, x: Tensor) -> Tensor:
        parts = zip(x.split(self.chunk, 1), self.weight.split(self.chunk, 1))
        total = None
        for index, (part, weight) in enumerate(parts):
            out = F.conv2d(part, weight, self.bias if index == 0 else None,
                           self.stride, self.padding, self.dilation)
            # bf16 partial sums add in float32, then round once.
            total = out.float() if total is None else total.add_(out)
        return total.to(out.dtype)

    def _key(self, x: Tensor) -> Tuple:
        dtype = (torch.get_autocast_dtype(x.device.type)
                 if torch.is_autocast_enabled(x.device.type) else x.dtype)
        return (tuple(x.shape), dtype,
                x.is_contiguous(memory_format=torch.channels_last))

    def _measure(self, x: Tensor) -> Tuple[bool, Tensor]:
        seconds: Dict[bool, float] = {}
        for round_ in range(2):  # round 0 builds oneDNN's kernels
            for chunked in (False, True):
                start = time.perf_counter()
                out = self._chunked(x) if chunked else super().forward(x)
                if round_:
                    seconds[chunked] = time.perf_counter() - start
        return seconds[True] < seconds[False], out

    def forward(self, x: Tensor) -> Tensor:
        chunked = self.__dict__.setdefault('chunked', {})
        key = self._key(x)
        if key not in chunked:
            chunked[key], out = self._measure(x)
            return out
        return self._chunked(x) if chunked[key] else super().forward(x)


@contextlib.contextmanager
def matmul_encoding(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model``'s ``Encoding`` layers are
    :class:`MatmulEncoding` (for export); restored after."""
    swapped = [layer for layer in model.modules() if type(layer) is Encoding]
    for layer in swapped:
        layer.__class__ = MatmulEncoding
    try:
        yield model
    finally:
        for layer in swapped:
            layer.__class__ = Encoding


def speed_up_layers(segmentor: nn.Module) -> None:
    """Keep the classifiers float32 and swap in :class:`MatmulEncoding` and
    :class:`ChunkedConv2d` where they apply (plain ``Encoding``; plain
    ``Conv2d`` without groups over at least ``ChunkedConv2d.min_channels``
    inputs). Parameters and state-dict keys stay as they are."""
    for layer in classifier_layers(segmentor):
        keep_float32(layer)
    for layer in segmentor.modules():
        if type(layer) is Encoding:
            layer.__class__ = MatmulEncoding
        elif (type(layer) is nn.Conv2d and layer.groups == 1
              and layer.in_channels >= ChunkedConv2d.min_channels
              and layer.padding_mode == 'zeros'):
            layer.__class__ = ChunkedConv2d
