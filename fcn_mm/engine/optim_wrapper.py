"""Mixed-precision training on CPU: bf16 autocast, no loss scale.

mmengine's ``AmpOptimWrapper`` refuses a machine without an accelerator. On a
CPU, autocast runs convolutions and matrix products in bfloat16 (fast where
the CPU has AVX512-BF16 or AMX) and keeps reductions and losses in float32;
bfloat16 has float32's exponent range, so gradients need no loss scaling, as
in PyTorch's CPU AMP recipe.
"""
import logging
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast

__all__ = ['CPUAmpOptimWrapper', 'cpu_has_fast_bf16']


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available()
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under CPU bf16 autocast.

    Parameters, gradients and optimizer state stay float32; only the forward
    (and so the backward) of autocast's bf16 ops runs in bfloat16.
    ``tools/train.py --amp`` picks it on a machine without CUDA; a config can
    name it: ``optim_wrapper = dict(type='CPUAmpOptimWrapper', optimizer=...)``.

    Args:
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not cpu_has_fast_bf16():
            print_log(
                'CPUAmpOptimWrapper: this CPU has no native bf16 (AVX512-BF16 '
                'or AMX); bf16 autocast will be slower than float32.',
                logger='current', level=logging.WARNING)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of the parent, plus bf16 autocast."""
        with super().optim_context(model), autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield
