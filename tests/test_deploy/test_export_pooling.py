"""SizeAgnosticAdaptiveAvgPool2d equals nn.AdaptiveAvgPool2d at every size,
and exported it stays right at sizes other than the traced one, where the
exporter's own AveragePool translation is wrong."""
import pytest
import torch
import torch.nn as nn

from fcn_mm.apis.export_pooling import (SizeAgnosticAdaptiveAvgPool2d,
                                        size_agnostic_pooling)
from fcn_mm.numerics import compare_with_float64

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.mark.numeric
@pytest.mark.parametrize('bins', [1, 2, 3, 6, (2, 3)])
@pytest.mark.parametrize('size', [(6, 6), (7, 13), (1, 5), (64, 33)])
def test_equals_adaptive_pooling(bins, size):
    x = torch.randn(2, 4, *size)
    pool = nn.AdaptiveAvgPool2d(bins)
    check = compare_with_float64(SizeAgnosticAdaptiveAvgPool2d(bins)(x),
                                 pool(x), pool(x.double()))
    assert check.passed, check


def test_swaps_multi_bin_poolings_and_restores_them():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(
        nn.AdaptiveAvgPool2d(3)))
    with size_agnostic_pooling(model):
        assert type(model[0]) is nn.AdaptiveAvgPool2d  # exports fine as is
        assert type(model[1][0]) is SizeAgnosticAdaptiveAvgPool2d
    assert type(model[1][0]) is nn.AdaptiveAvgPool2d


@pytest.mark.numeric
def test_exported_pooling_is_right_at_other_sizes():
    pytest.importorskip('onnxruntime')
    from fcn_mm.apis.export import onnx_session
    dims = {0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO,
            3: torch.export.Dim.AUTO}
    x = torch.rand(1, 3, 7, 13)
    pool = nn.AdaptiveAvgPool2d(3)
    checks = {}
    for name, pool in (('torch', nn.AdaptiveAvgPool2d(3)),
                       ('ours', SizeAgnosticAdaptiveAvgPool2d(3))):
        program = torch.onnx.export(
            pool.eval(), (torch.rand(2, 3, 8, 6), ), input_names=['image'],
            dynamic_shapes=(dims, ), dynamo=True, verbose=False)
        session = onnx_session(program.model_proto.SerializeToString())
        got = torch.from_numpy(session.run(None, {'image': x.numpy()})[0])
        checks[name] = compare_with_float64(got, pool(x), pool(x.double()))
    assert checks['ours'].passed, checks['ours']
    assert not checks['torch'].passed  # the reason this module exists
    assert checks['torch'].candidate_error > 1e-2
