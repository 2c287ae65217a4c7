"""The fast path's layer swaps: same parameters, same outputs, less work."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from families import build_family
from mmseg.models.utils import Encoding

from fcn_mm.apis.fast_layers import (ChunkedConv2d, Float32Layer,
                                     MatmulEncoding, matmul_encoding,
                                     speed_up_layers)

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')


def _encoding(channels=64, codes=8, seed=0):
    torch.manual_seed(seed)
    return Encoding(channels, codes)


def test_matmul_encoding_is_as_close_to_float64_as_mmseg_encoding():
    layer = _encoding()
    # Post-ReLU features with the scale of a trained network's and larger.
    x = torch.relu(torch.randn(2, 64, 12, 10) * 4)
    with torch.no_grad():
        truth = copy.deepcopy(layer).double()(x.double())
        mmseg_error = (layer(x).double() - truth).abs().max()
        fast = copy.deepcopy(layer)
        fast.__class__ = MatmulEncoding
        got = fast(x)
    assert got.dtype == torch.float32 and got.shape == (2, 8, 64)
    assert (got.double() - truth).abs().max() <= 4 * mmseg_error + 1e-5
    assert fast.state_dict().keys() == layer.state_dict().keys()


def test_matmul_encoding_stays_float32_under_bf16_autocast():
    fast = _encoding()
    fast.__class__ = MatmulEncoding
    x = torch.relu(torch.randn(1, 64, 6, 6))
    with torch.no_grad():
        expected = fast(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = fast(x.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=0.05)


def _wide_conv(bias=True, **kwargs) -> ChunkedConv2d:
    torch.manual_seed(0)
    conv = nn.Conv2d(1100, 24, 3, bias=bias, **kwargs)
    conv.__class__ = ChunkedConv2d
    conv.chunk = 256  # 5 chunks, the last one partial
    return conv


@pytest.mark.parametrize('kwargs', [
    dict(padding=1), dict(padding=2, dilation=2, bias=False),
    dict(stride=2, padding=0)])
def test_chunked_conv_matches_one_convolution_in_float32(kwargs):
    conv = _wide_conv(**kwargs)
    x = torch.randn(2, 1100, 9, 11)
    with torch.no_grad():
        expected = F.conv2d(x, conv.weight, conv.bias, conv.stride,
                            conv.padding, conv.dilation)
        got = conv._chunked(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_chunked_conv_in_bf16_rounds_once():
    """Partial sums add in float32: the chunked bf16 result is as close to
    float32 as one bf16 convolution's."""
    conv = _wide_conv()
    x = torch.randn(1, 1100, 8, 8)
    with torch.no_grad():
        truth = conv(x)
        conv.to(torch.bfloat16)
        one = F.conv2d(x.bfloat16(), conv.weight, conv.bias)
        chunked = conv._chunked(x.bfloat16())
    assert chunked.dtype == torch.bfloat16
    one_error = (one.float() - truth).abs().max()
    assert (chunked.float() - truth).abs().max() <= 1.5 * one_error


def test_chunked_conv_measures_each_input_kind_once():
    conv = _wide_conv()
    x = torch.randn(1, 1100, 6, 6)
    with torch.no_grad():
        expected = F.conv2d(x, conv.weight, conv.bias)
        first = conv(x)
        assert list(conv.chunked) == [((1, 1100, 6, 6), torch.float32,
                                       False)]
        conv.chunked[next(iter(conv.chunked))] = True
        chunked = conv(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            conv(x)
    torch.testing.assert_close(first, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(chunked, expected, rtol=1e-4, atol=1e-4)
    assert ((1, 1100, 6, 6), torch.bfloat16, False) in conv.chunked
    assert len(conv.chunked) == 2


def test_speed_up_layers_swaps_only_what_applies():
    model = build_family('fastfcn_enc')
    model.decode_head.wide = nn.Conv2d(2048, 8, 3)
    model.decode_head.grouped = nn.Conv2d(2048, 2048, 3, groups=2048)
    keys = model.state_dict().keys()
    speed_up_layers(model)
    assert type(model.decode_head.enc_module.encoding[0]) is MatmulEncoding
    assert type(model.decode_head.wide) is ChunkedConv2d
    assert type(model.decode_head.grouped) is nn.Conv2d
    assert isinstance(model.decode_head.conv_seg, Float32Layer)
    assert type(model.backbone.stem[0]) is nn.Conv2d  # 3 inputs
    assert model.state_dict().keys() == keys


def test_matmul_encoding_for_export_is_undone_after_the_block():
    model = build_family('fastfcn_enc')
    layer = model.decode_head.enc_module.encoding[0]
    with pytest.raises(RuntimeError, match='inside'):
        with matmul_encoding(model):
            assert type(layer) is MatmulEncoding
            raise RuntimeError('inside')
    assert type(layer) is Encoding
