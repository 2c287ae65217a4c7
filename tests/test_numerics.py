"""fcn_mm.numerics: the float64-derived bound passes another summation order
and refuses a 1% change, on long reductions as fc6's (25088 terms)."""
import math

import pytest
import torch

from fcn_mm.numerics import (FLOAT32_EPS, FLOOR_EPS, NOISE_MULTIPLE,
                             compare_with_float64, float32_bound,
                             float64_copy)


def _long_reduction(seed=0):
    """fc6 of FCN-8s as a matrix product: 25088 = 512 x 7 x 7 terms."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 25088, generator=generator)
    w = torch.randn(25088, 64, generator=generator) / 25088**0.5
    return x, w


@pytest.mark.numeric
def test_another_summation_order_passes_and_one_percent_fails():
    x, w = _long_reduction()
    float32 = x @ w
    float64 = x.double() @ w.double()
    # The same sums in 49 chunks of 512 terms: another order, as another
    # library or ISA would add them.
    chunked = sum(x[:, i:i + 512] @ w[i:i + 512] for i in range(0, 25088,
                                                                   512))
    check = compare_with_float64(chunked, float32, float64)
    assert check.float32_error > 0 and check.passed, check
    wrong = x @ torch.cat([w[:12544] * 1.01, w[12544:]])
    check = compare_with_float64(wrong, float32, float64)
    assert not check.passed and check.candidate_error > 10 * check.bound


def test_bound_is_the_stated_formula():
    assert float32_bound(1e-5, 3.0) == pytest.approx(
        NOISE_MULTIPLE * 1e-5 + FLOOR_EPS * FLOAT32_EPS * 3.0)
    assert float32_bound(0.0, 2.0, multiple=1) == pytest.approx(
        FLOOR_EPS * 2**-23 * 2.0)


def test_nan_is_refused_and_shapes_must_match():
    reference = torch.ones(2, 3, dtype=torch.float64)
    candidate = torch.ones(2, 3)
    candidate[0, 1] = math.nan
    check = compare_with_float64(candidate, torch.ones(2, 3), reference)
    assert math.isnan(check.candidate_error) and not check.passed
    with pytest.raises(ValueError, match=r'one shape, got \[\(2, 3\), '
                       r'\(2, 3\), \(3, 2\)\]'):
        compare_with_float64(torch.ones(2, 3), torch.ones(2, 3),
                             reference.t())


def test_float64_copy_leaves_the_model_float32():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),
                                torch.nn.BatchNorm2d(4)).eval()
    copied = float64_copy(model)
    assert all(t.dtype == torch.float32 for t in model.state_dict().values()
               if t.is_floating_point())
    assert all(t.dtype == torch.float64 for t in copied.state_dict().values()
               if t.is_floating_point())
    assert not copied.training
