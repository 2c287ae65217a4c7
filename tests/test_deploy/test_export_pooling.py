"""SizeAgnosticAdaptiveAvgPool2d equals nn.AdaptiveAvgPool2d at every size,
and exported it stays right at sizes other than the traced one, where the
exporter's own AveragePool translation is wrong."""
import pytest
import torch
import torch.nn as nn

from fcn_mm.apis.export_pooling import (SizeAgnosticAdaptiveAvgPool2d,
                                        size_agnostic_pooling)

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.mark.parametrize('bins', [1, 2, 3, 6, (2, 3)])
@pytest.mark.parametrize('size', [(6, 6), (7, 13), (1, 5), (64, 33)])
def test_equals_adaptive_pooling(bins, size):
    x = torch.randn(2, 4, *size)
    torch.testing.assert_close(
        SizeAgnosticAdaptiveAvgPool2d(bins)(x), nn.AdaptiveAvgPool2d(bins)(x),
        rtol=1e-5, atol=1e-6)


def test_swaps_multi_bin_poolings_and_restores_them():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(
        nn.AdaptiveAvgPool2d(3)))
    with size_agnostic_pooling(model):
        assert type(model[0]) is nn.AdaptiveAvgPool2d  # exports fine as is
        assert type(model[1][0]) is SizeAgnosticAdaptiveAvgPool2d
    assert type(model[1][0]) is nn.AdaptiveAvgPool2d


def test_exported_pooling_is_right_at_other_sizes():
    pytest.importorskip('onnxruntime')
    from fcn_mm.apis.export import onnx_session
    dims = {0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO,
            3: torch.export.Dim.AUTO}
    errors = {}
    for name, pool in (('torch', nn.AdaptiveAvgPool2d(3)),
                       ('ours', SizeAgnosticAdaptiveAvgPool2d(3))):
        program = torch.onnx.export(
            pool.eval(), (torch.rand(2, 3, 8, 6), ), input_names=['image'],
            dynamic_shapes=(dims, ), dynamo=True, verbose=False)
        session = onnx_session(program.model_proto.SerializeToString())
        x = torch.rand(1, 3, 7, 13)
        got = torch.from_numpy(session.run(None, {'image': x.numpy()})[0])
        errors[name] = (got - nn.AdaptiveAvgPool2d(3)(x)).abs().max().item()
    assert errors['ours'] < 1e-6
    assert errors['torch'] > 1e-2  # the reason this module exists
