"""Adaptive average pooling that exports to ONNX for any input size.

ONNX has no adaptive pooling: torch's exporter turns ``adaptive_avg_pool2d``
into an ``AveragePool`` whose kernel and stride come from the traced input,
so a PSP head's 2x2, 3x3 and 6x6 bins come out wrong (or fail) at every other
size, with no error at export. mmdeploy rewrites the op for the same reason.
Here each bin's mean is a product with a pooling matrix built from the input
size at run time, with the bin edges of PyTorch's adaptive pooling:
``floor(i * H / n)`` to ``ceil((i + 1) * H / n)``.
"""
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ['SizeAgnosticAdaptiveAvgPool2d', 'size_agnostic_pooling']


def _pooling_matrix(size, bins: int, like: Tensor) -> Tensor:
    """(bins, size): row i averages the inputs of bin i."""
    index = torch.arange(bins, device=like.device)
    starts = (index * size) // bins  # (bins, )
    ends = ((index + 1) * size + bins - 1) // bins
    positions = torch.arange(size, device=like.device)  # (size, )
    inside = ((positions[None] >= starts[:, None]) &
              (positions[None] < ends[:, None])).to(like.dtype)
    return inside / inside.sum(dim=1, keepdim=True)


class SizeAgnosticAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two matrix products, for export.

    Args:
        output_size (int | tuple[int, int]): Bins along H and W.
    """

    def __init__(self, output_size):
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        if None in output_size:
            raise ValueError('export needs fixed output sizes, got '
                             f'{output_size}')
        self.output_size = tuple(output_size)

    def forward(self, x: Tensor) -> Tensor:
        rows = _pooling_matrix(x.shape[2], self.output_size[0], x)  # (h, H)
        cols = _pooling_matrix(x.shape[3], self.output_size[1], x)  # (w, W)
        return rows @ x @ cols.transpose(0, 1)  # (N, C, h, w)


@contextmanager
def size_agnostic_pooling(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model``'s adaptive average poolings to more than
    one bin are :class:`SizeAgnosticAdaptiveAvgPool2d`; restored after."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (isinstance(child, nn.AdaptiveAvgPool2d)
                    and child.output_size not in (1, (1, 1))):
                setattr(parent, name,
                        SizeAgnosticAdaptiveAvgPool2d(child.output_size))
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
