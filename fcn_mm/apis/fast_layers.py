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
  each dtype and layout and keeps the faster, as cuDNN's benchmark mode does.
* **Other convolutions with prepacked weights.** torch's CPU convolution
  reorders its weight into oneDNN's blocked layout on every call, which is
  most of the time of a big-weight conv on a small map (FCN's fc6, 4096 x
  512 x 7 x 7 on 16x16: 0.42-0.62 s in float32, 0.24 s prepacked).
  :class:`PackedConv2d` reorders it once per dtype, as torch.compile's CPU
  weight freezing does, with the same oneDNN ops (``mkldnn::
  _reorder_convolution_weight`` and ``_convolution_pointwise``). Packed 3x3
  convolutions ran as fast as unpacked ones, packed 1x1 ones that widen
  (ResNet's 512 -> 2048) up to 20x slower: only k x k ones (k > 1) pack.
"""
import contextlib
import functools
import time
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.utils import Encoding
from torch import Tensor

__all__ = [
    'Float32Layer', 'classifier_layers', 'keep_float32',
    'cast_weights_to_bf16', 'MatmulEncoding', 'ChunkedConv2d',
    'PackedConv2d', 'drop_packed_weights', 'matmul_encoding',
    'speed_up_layers'
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


def _at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32, or float64 if it is (a float64 reference run)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class Float32Layer:
    """Mixin: the layer runs in float32 on a float32 input, in autocast too."""

    def forward(self, x, *args, **kwargs):
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(_at_least_float32(x), *args, **kwargs)


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
            x = _at_least_float32(x).flatten(2).transpose(1, 2)  # (B, HW, C)
            codes = self.codewords  # (K, C)
            sq_dist = ((x * x).sum(2, keepdim=True) - 2 * x @ codes.t() +
                       (codes * codes).sum(1))  # (B, HW, K)
            weights = torch.softmax(self.scale * sq_dist, dim=2)
            return (weights.transpose(1, 2) @ x -
                    weights.sum(1).unsqueeze(2) * codes)  # (B, K, C)


def _compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype a convolution of ``x`` runs in, autocast included."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class ChunkedConv2d(nn.Conv2d):
    """A ``Conv2d`` that may run as a sum over input-channel chunks.

    Attributes:
        chunk (int): Input channels a chunk. Defaults to 512.
        chunked (dict): Per (dtype, channels_last) of the input, whether
            the chunked form runs; measured on the first such input (of any
            size, so that images of many sizes do not measure again each)
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
            total = (_at_least_float32(out) if total is None else
                     total.add_(out))
        return total.to(out.dtype)

    def _key(self, x: Tensor) -> Tuple:
        return (_compute_dtype(x),
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
        if torch.compiler.is_compiling() or x.device.type != 'cpu':
            return super().forward(x)  # export sees a Conv2d; CPU timings
        chunked = self.__dict__.setdefault('chunked', {})
        key = self._key(x)
        if key not in chunked:
            chunked[key], out = self._measure(x)
            return out
        return self._chunked(x) if chunked[key] else super().forward(x)


class PackedConv2d(nn.Conv2d):
    """A ``Conv2d`` whose weight oneDNN lays out once per dtype, for
    inference on the CPU (see the module docstring); anything else (grad
    enabled, another device or dtype, export) runs as ``Conv2d``. The packed copy is
    remade when the weight changes (loaded or cast) and is never saved."""

    def _pack(self, dtype: torch.dtype) -> Tuple[Tensor, Optional[Tensor]]:
        packs = self.__dict__.setdefault('packs', {})
        source = (self.weight.data_ptr(), self.weight._version)
        if dtype not in packs or packs[dtype][0] != source:
            weight = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight.detach().to(dtype), self.padding, self.stride,
                self.dilation, self.groups)
            bias = None if self.bias is None else self.bias.detach().to(dtype)
            packs[dtype] = (source, weight, bias)
        return packs[dtype][1:]

    def forward(self, x: Tensor) -> Tensor:
        dtype = _compute_dtype(x)
        if (torch.is_grad_enabled() or x.device.type != 'cpu'
                or dtype not in (torch.float32, torch.bfloat16)
                # oneDNN packs bf16 only with AVX512BW/VL/DQ or AVX-NE-CONVERT
                or (dtype == torch.bfloat16
                    and not torch.ops.mkldnn._is_mkldnn_bf16_supported())
                or torch.compiler.is_compiling()):  # export sees a Conv2d
            return super().forward(x)
        weight, bias = self._pack(dtype)
        return torch.ops.mkldnn._convolution_pointwise(
            x.to(dtype), weight, bias, self.padding, self.stride,
            self.dilation, self.groups, 'none', [], '')

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop('packs', None)  # oneDNN tensors neither copy nor pickle
        return state


def drop_packed_weights(model: nn.Module) -> None:
    """Free the packed copies of :class:`PackedConv2d` weights (they are made
    again on the next call)."""
    for layer in model.modules():
        layer.__dict__.pop('packs', None)


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
    """Keep the classifiers float32 and swap in :class:`MatmulEncoding` for
    plain ``Encoding`` and, of plain zero-padded ``Conv2d``,
    :class:`ChunkedConv2d` for those without groups over at least
    ``ChunkedConv2d.min_channels`` inputs and :class:`PackedConv2d` for the
    other non-1x1 ones (packed 1x1 convolutions that widen, as ResNet's, ran
    up to 20x slower). Parameters and state-dict keys stay as they are."""
    for layer in classifier_layers(segmentor):
        keep_float32(layer)
    # Private oneDNN ops (torch.compile's): pack only where this torch has.
    can_pack = (torch.backends.mkldnn.is_available()
                and hasattr(torch.ops.mkldnn, '_reorder_convolution_weight')
                and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))
    for layer in segmentor.modules():
        if type(layer) is Encoding:
            layer.__class__ = MatmulEncoding
        elif (type(layer) is not nn.Conv2d or layer.padding_mode != 'zeros'
              or isinstance(layer.padding, str)):
            continue
        elif (layer.groups == 1
              and layer.in_channels >= ChunkedConv2d.min_channels):
            layer.__class__ = ChunkedConv2d
        elif layer.kernel_size != (1, 1) and can_pack:
            layer.__class__ = PackedConv2d
