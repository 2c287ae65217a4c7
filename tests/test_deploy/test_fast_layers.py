"""The fast path's layer swaps: same parameters, same outputs, less work.

float32 outputs are checked against a float64 run within the bound
fcn_mm.numerics derives from the plain layer's own float32 error; bf16 ones
against bf16's rounding (unit 2**-8)."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from families import build_family
from mmseg.models.utils import Encoding

from fcn_mm.apis.fast_layers import (ChunkedConv2d, Float32Layer,
                                     MatmulEncoding, PackedConv2d,
                                     drop_packed_weights, matmul_encoding,
                                     speed_up_layers)
from fcn_mm.engine.optim_wrapper import cpu_has_fast_bf16
from fcn_mm.numerics import (BFLOAT16_UNIT, compare_with_float64,
                             float64_copy)

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')


def _encoding(channels=64, codes=8, seed=0):
    torch.manual_seed(seed)
    return Encoding(channels, codes)


@pytest.mark.numeric
def test_matmul_encoding_is_as_close_to_float64_as_mmseg_encoding():
    layer = _encoding()
    # Post-ReLU features with the scale of a trained network's and larger.
    x = torch.relu(torch.randn(2, 64, 12, 10) * 4)
    with torch.no_grad():
        truth = float64_copy(layer)(x.double())
        fast = copy.deepcopy(layer)
        fast.__class__ = MatmulEncoding
        got = fast(x)
        check = compare_with_float64(got, layer(x), truth)
    assert got.dtype == torch.float32 and got.shape == (2, 8, 64)
    assert check.passed, check
    assert fast.state_dict().keys() == layer.state_dict().keys()


def test_matmul_encoding_stays_float32_under_bf16_autocast():
    fast = _encoding()
    fast.__class__ = MatmulEncoding
    x = torch.relu(torch.randn(1, 64, 6, 6)).bfloat16()
    with torch.no_grad():
        expected = fast(x.float())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = fast(x)
    assert got.dtype == torch.float32
    # The bf16 input is exact in float32: the same float32 computation.
    assert torch.equal(got, expected)


def _wide_conv(bias=True, **kwargs) -> ChunkedConv2d:
    torch.manual_seed(0)
    conv = nn.Conv2d(1100, 24, 3, bias=bias, **kwargs)
    conv.__class__ = ChunkedConv2d
    conv.chunk = 256  # 5 chunks, the last one partial
    return conv


def _plain_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv`` as one ``F.conv2d``, in ``x``'s dtype."""
    return F.conv2d(x, conv.weight.to(x.dtype),
                    None if conv.bias is None else conv.bias.to(x.dtype),
                    conv.stride, conv.padding, conv.dilation, conv.groups)


@pytest.mark.numeric
@pytest.mark.parametrize('kwargs', [
    dict(padding=1), dict(padding=2, dilation=2, bias=False),
    dict(stride=2, padding=0)])
def test_chunked_conv_matches_one_convolution_in_float32(kwargs):
    conv = _wide_conv(**kwargs)
    x = torch.randn(2, 1100, 9, 11)
    with torch.no_grad():
        check = compare_with_float64(conv._chunked(x), _plain_conv(conv, x),
                                     _plain_conv(conv, x.double()))
    assert check.passed, check


@pytest.mark.numeric
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


def test_chunked_conv_measures_each_dtype_and_layout_once():
    conv = _wide_conv()
    x = torch.randn(1, 1100, 6, 6)
    with torch.no_grad():
        expected = F.conv2d(x, conv.weight, conv.bias)
        exact = _plain_conv(conv, x.double())
        first = conv(x)
        assert list(conv.chunked) == [(torch.float32, False)]
        conv.chunked[next(iter(conv.chunked))] = True
        chunked = conv(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            conv(x)
        conv(torch.randn(1, 1100, 7, 5))  # another size: measured already
    for got in (first, chunked):
        check = compare_with_float64(got, expected, exact)
        assert check.passed, check
    assert set(conv.chunked) == {(torch.float32, False),
                                 (torch.bfloat16, False)}


def test_speed_up_layers_swaps_only_what_applies():
    model = build_family('fastfcn_enc')
    model.decode_head.wide = nn.Conv2d(2048, 8, 3)
    model.decode_head.grouped = nn.Conv2d(2048, 2048, 3, groups=2048)
    model.decode_head.reflect = nn.Conv2d(8, 8, 3, padding_mode='reflect')
    keys = model.state_dict().keys()
    speed_up_layers(model)
    assert type(model.decode_head.enc_module.encoding[0]) is MatmulEncoding
    assert type(model.decode_head.wide) is ChunkedConv2d
    assert type(model.decode_head.grouped) is PackedConv2d
    assert type(model.backbone.stem[0]) is PackedConv2d  # 3x3
    assert type(model.backbone.layer1[0].conv1) is nn.Conv2d  # 1x1
    assert type(model.decode_head.reflect) is nn.Conv2d
    assert isinstance(model.decode_head.conv_seg, Float32Layer)
    assert model.state_dict().keys() == keys


def test_matmul_encoding_for_export_is_undone_after_the_block():
    model = build_family('fastfcn_enc')
    layer = model.decode_head.enc_module.encoding[0]
    with pytest.raises(RuntimeError, match='inside'):
        with matmul_encoding(model):
            assert type(layer) is MatmulEncoding
            raise RuntimeError('inside')
    assert type(layer) is Encoding


def _packed_conv(**kwargs) -> PackedConv2d:
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 24, 3, **kwargs)
    conv.__class__ = PackedConv2d
    return conv


@pytest.mark.numeric
@pytest.mark.parametrize('kwargs', [
    dict(padding=1), dict(padding=2, dilation=2, bias=False),
    dict(stride=2, groups=4)])
@pytest.mark.parametrize('channels_last', [False, True])
def test_packed_conv_matches_conv2d(kwargs, channels_last):
    conv = _packed_conv(**kwargs)
    x = torch.randn(2, 16, 11, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = nn.Conv2d.forward(conv, x)
        got = conv(x)
        exact = _plain_conv(conv, x.double())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got_bf16 = conv(x)
            expected_bf16 = nn.Conv2d.forward(conv, x)
    check = compare_with_float64(got, expected, exact)
    assert check.passed, check
    # Where oneDNN has no bf16 (an AVX2 CPU) bf16 runs as a plain Conv2d.
    assert set(conv.packs) == {torch.float32} | (
        {torch.bfloat16} if cpu_has_fast_bf16() else set())
    assert got_bf16.dtype == torch.bfloat16
    # Both round the same inputs and weights to bf16 and add in float32;
    # they differ only where float32 noise tips the final rounding to bf16,
    # by at most one bf16 ulp (2 * 2**-8 relative) of the largest output.
    ulp = 2 * BFLOAT16_UNIT * expected_bf16.float().abs().max()
    assert (got_bf16.float() - expected_bf16.float()).abs().max() <= ulp


def test_packed_conv_follows_new_weights_and_copies_without_its_pack():
    conv = _packed_conv(padding=1)
    x = torch.randn(1, 16, 6, 6)
    with torch.no_grad():
        conv(x)
        other = nn.Conv2d(16, 24, 3, padding=1)
        conv.load_state_dict(other.state_dict())
        expected, exact = other(x), float64_copy(other)(x.double())
        assert compare_with_float64(conv(x), expected, exact).passed
        copied = copy.deepcopy(conv)
        assert 'packs' not in copied.__dict__
        assert compare_with_float64(copied(x), expected, exact).passed
        drop_packed_weights(conv)
        assert 'packs' not in conv.__dict__
    conv(x).sum().backward()  # grad enabled: a plain Conv2d
    assert conv.weight.grad is not None


def test_without_onednn_convolutions_are_not_packed(monkeypatch):
    monkeypatch.setattr(torch.backends.mkldnn, 'is_available', lambda: False)
    model = build_family('fcn8s_modern')
    speed_up_layers(model)
    assert not any(isinstance(m, PackedConv2d) for m in model.modules())
    assert type(model.backbone.conv1_1.conv) is nn.Conv2d


def test_a_fast_path_model_still_exports_to_onnx(tmp_path):
    """The fast path owns its model, but one exported after it (a Python
    user's order of calls) exports its plain convolutions, not oneDNN's."""
    pytest.importorskip('onnxruntime')
    from fcn_mm.apis.export import check_onnx, export_onnx
    from fcn_mm.apis.fast_inference import FastInferenceSegmentor
    model = build_family('fcn8s_modern')
    fast = FastInferenceSegmentor(model, precision='fp32')
    fast.predict(torch.rand(1, 3, 32, 32))
    assert any(isinstance(m, PackedConv2d) for m in model.modules())
    onnx = export_onnx(model, sample_size=(32, 32))
    [result] = check_onnx(onnx, model, [(40, 24)])
    assert result['passed'], result
