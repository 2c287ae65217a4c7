"""Tolerances derived from a float64 reference, not tuned on one CPU.

Two float32 computations of one network (PyTorch on oneDNN, onnxruntime on
MLAS, a fast-path layer, the same code under another instruction set) add
the same products in other orders, so they differ by rounding noise whose
size depends on the CPU, the reduction lengths and the values: a tolerance
tuned on one CPU refuses correct results on another. Here the reference is
the same model run in float64 (rounding 2**-53, 2**29 times finer than
float32's), whose own error is negligible. PyTorch float32's error against it
measures this model's rounding noise on this input on this CPU, and a float32
candidate passes when its error against float64 is at most::

    NOISE_MULTIPLE * float32_error + FLOOR_EPS * eps32 * max|float64 output|

Why these numbers (measured, README "Deploy and fast inference"):

- ``NOISE_MULTIPLE = 8``: another summation order has rounding errors of the
  same distribution (Higham, *Accuracy and Stability of Numerical
  Algorithms*, 2002, ch. 3: the dot-product bound n*u*sum|x*y| holds for
  every order), so the candidate's largest error is of the float32 error's
  order; the largest over many pixels still varies between orders and ISAs
  by a small factor (onnxruntime/PyTorch 0.6-1.3x on the deploy families,
  AVX2 to AVX512-BF16), and 8 leaves room.
- ``FLOOR_EPS = 16``: a float32 run can land within an ulp or two of float64
  by chance (tiny models, small sums), which would make the bound vanish;
  16 eps of the output's magnitude is a few roundings of the result itself.
- A real graph change is orders above either term: one mid-network
  convolution's weight times 1.01 moves the logits by about 1e-2 of their
  magnitude, against float32 noise of 1e-7-3e-5 of it (40-2000x the bound).

Kept to float32 candidates. bfloat16 results (8-bit mantissa, unit roundoff
:data:`BFLOAT16_UNIT`) are checked against their own rounding instead.
"""
import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    'BFLOAT16_UNIT', 'FLOAT32_EPS', 'FLOOR_EPS', 'NOISE_MULTIPLE',
    'Float64Check', 'compare_with_float64', 'float32_bound', 'float64_copy',
    'max_abs_error'
]

FLOAT32_EPS = torch.finfo(torch.float32).eps  # 2**-23
# Unit roundoff of bfloat16 (half its eps 2**-7): rounding a value x to
# bfloat16 moves it by at most 2**-8 * |x|.
BFLOAT16_UNIT = 2.0**-8
NOISE_MULTIPLE = 8.0
FLOOR_EPS = 16.0


def float64_copy(module: nn.Module) -> nn.Module:
    """A float64 deep copy of ``module`` (parameters and buffers), the
    module itself left as it is; the copy keeps its train/eval mode."""
    return copy.deepcopy(module).double()


def max_abs_error(got: Tensor, reference: Tensor) -> float:
    """Largest ``|got - reference|``, computed in float64; NaN if any
    element is NaN (so that ``error <= bound`` is False)."""
    diff = (got.detach().double() - reference.detach().double()).abs()
    if torch.isnan(diff).any():
        return math.nan
    return diff.max().item()


def float32_bound(float32_error: float, magnitude: float, *,
                  multiple: float = NOISE_MULTIPLE) -> float:
    """The largest error against float64 a correct float32 candidate has.

    Args:
        float32_error (float): PyTorch float32's largest error against the
            float64 run of the same model and input.
        magnitude (float): Largest ``|output|`` of the float64 run.
        multiple (float): Allowed multiple of ``float32_error``. Defaults to
            :data:`NOISE_MULTIPLE`.

    Returns:
        float: ``multiple * float32_error + FLOOR_EPS * eps32 * magnitude``.
    """
    return multiple * float32_error + FLOOR_EPS * FLOAT32_EPS * magnitude


@dataclass(frozen=True)
class Float64Check:
    """A float32 candidate against the float64 reference.

    Attributes:
        candidate_error (float): max |candidate - float64|.
        float32_error (float): max |PyTorch float32 - float64|, the noise.
        magnitude (float): max |float64|.
        bound (float): The largest ``candidate_error`` accepted.
    """
    candidate_error: float
    float32_error: float
    magnitude: float
    bound: float

    @property
    def passed(self) -> bool:
        """Whether the candidate is within the bound (False for NaN)."""
        return self.candidate_error <= self.bound


def compare_with_float64(candidate: Tensor, float32: Tensor, float64: Tensor,
                         *, multiple: float = NOISE_MULTIPLE) -> Float64Check:
    """Check a float32 ``candidate`` against ``float64``, with the bound
    :func:`float32_bound` derives from ``float32``'s error.

    Args:
        candidate (Tensor): The output under test (onnxruntime's, a fast
            path's, a converted model's).
        float32 (Tensor): The same output from PyTorch in float32, the
            computation whose noise sets the scale.
        float64 (Tensor): The same output from :func:`float64_copy` of the
            model on the input in float64.
        multiple (float): See :func:`float32_bound`.

    Raises:
        ValueError: The three outputs do not have one shape.
    """
    shapes = [tuple(t.shape) for t in (candidate, float32, float64)]
    if len(set(shapes)) != 1:
        raise ValueError('the candidate, float32 and float64 outputs must '
                         f'have one shape, got {shapes}: compare the same '
                         'output of the same input')
    float32_error = max_abs_error(float32, float64)
    magnitude = float64.detach().abs().max().item()
    return Float64Check(
        candidate_error=max_abs_error(candidate, float64),
        float32_error=float32_error,
        magnitude=magnitude,
        bound=float32_bound(float32_error, magnitude, multiple=multiple))
