"""The CPU fast path: its choice, its outputs, and a trained model's metrics
and labels through tools/test.py, unchanged against float32."""
import math

import numpy as np
import pytest
import torch
from families import FAMILIES, build_family
from PIL import Image

from fcn_mm.apis.fast_inference import (CANDIDATES, FastInferenceSegmentor,
                                        FastPath, pick_fastest)
from fcn_mm.engine.optim_wrapper import cpu_has_fast_bf16
from fcn_mm.numerics import (BFLOAT16_UNIT, compare_with_float64,
                             float64_copy)

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')

SECONDS = {'fp32': 1.0, 'fp32+channels_last': 0.8, 'bf16+channels_last': 0.5}


def test_pick_fastest_keeps_bf16_only_when_it_agrees():
    assert pick_fastest(SECONDS, 0.999, 0.995) == 'bf16+channels_last'
    assert pick_fastest(SECONDS, 0.99, 0.995) == 'fp32+channels_last'
    assert pick_fastest(SECONDS, None, 0.995) == 'fp32+channels_last'
    assert pick_fastest({'fp32': 0.7, **{k: v for k, v in SECONDS.items()
                                         if k != 'fp32'}}, 0.9, 0.995) \
        == 'fp32'


def test_describe_names_choice_speedups_and_agreement():
    text = FastPath('bf16+channels_last', dict(SECONDS), 0.9987).describe()
    assert text.startswith('fast path: bf16+channels_last')
    assert 'bf16+channels_last 0.500 s 2.00x' in text
    assert 'agreement 99.87%' in text


def test_auto_measures_every_candidate_on_the_first_batch_only():
    model = build_family('fcn8s_modern')
    fast = FastInferenceSegmentor(model, precision='auto')
    x = torch.rand(1, 3, 40, 56) * 2 - 1
    samples = fast.predict(x)
    expected = set(CANDIDATES) - (set() if cpu_has_fast_bf16() else
                                  {'bf16+channels_last'})
    assert set(fast.choice.seconds) == expected
    assert fast.choice.name in expected
    assert (fast.choice.agreement is not None) == cpu_has_fast_bf16()
    weight = model.backbone.conv1_1.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) == \
        fast.choice.channels_last
    choice = fast.choice
    fast.predict(x)
    assert fast.choice is choice  # measured once
    assert samples[0].seg_logits.data.dtype == torch.float32


def _logits(model, x) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([s.seg_logits.data for s in model.predict(x)])


@pytest.mark.numeric
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_fp32_fast_path_with_folded_bn_predicts_as_the_model(family):
    model = build_family(family)
    x = torch.rand(1, 3, 40, 48) * 2 - 1
    expected = _logits(model, x)
    exact = _logits(float64_copy(model), x.double())
    fast = FastInferenceSegmentor(model, precision='fp32')
    got = _logits(fast, x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d)
                   for m in model.modules())  # all folded into convs
    check = compare_with_float64(got, expected, exact)
    assert check.passed, check


@pytest.mark.numeric
@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_fixed_precision_predicts_as_the_model(precision):
    model = build_family('fastfcn_fcn')
    x = torch.rand(2, 3, 48, 40) * 2 - 1
    expected = _logits(model, x)
    exact = _logits(float64_copy(model), x.double())
    fast = FastInferenceSegmentor(model, precision=precision)
    got = _logits(fast, x)
    assert fast.choice.seconds == {}  # nothing measured
    # The classifier stays float32; the rest is stored as bf16 if chosen.
    assert model.decode_head.conv_seg.weight.dtype == torch.float32
    assert model.backbone.layer1[0].conv1.weight.dtype == (
        torch.bfloat16 if precision == 'bf16' else torch.float32)
    assert got.shape == expected.shape and got.dtype == torch.float32
    if precision == 'fp32':
        check = compare_with_float64(got, expected, exact)
        assert check.passed, check
    else:
        # Each bf16 convolution rounds its input and its weight (relative
        # error up to 2**-8 each); independent roundings of n layers add like
        # a random walk, sqrt(2n) * 2**-8 of the logits' scale, and the
        # largest logit error is within twice that (measured 0.5-0.7 x for
        # every family in families.py, AMD EPYC with avx512_bf16).
        bf16 = sum(m.weight.dtype == torch.bfloat16 for m in model.modules()
                   if isinstance(m, torch.nn.Conv2d))
        bound = 2 * math.sqrt(2 * bf16) * BFLOAT16_UNIT * exact.abs().max()
        assert (got - exact).abs().max() <= bound
        assert (got.argmax(1) == exact.argmax(1)).float().mean() >= 0.99


def test_bad_precision_and_tta_model_are_refused():
    model = build_family('fcn32s_modern')
    with pytest.raises(ValueError, match="precision must be one of"):
        FastInferenceSegmentor(model, precision='fp16')
    with pytest.raises(ValueError, match='drop --tta or the fast path'):
        FastInferenceSegmentor(torch.nn.Conv2d(3, 3, 1))


def _labels(folder):
    return {p.name: np.array(Image.open(p)) for p in folder.glob('*.png')}


@pytest.mark.slow
@pytest.mark.parametrize('data', ['demo val', 'real VOC val'])
def test_bf16_fast_path_keeps_miou_and_labels(
        data, demo_checkpoint, demo_config, demo_options, real_voc_options,
        run_tool, printed_summary, tmp_path):
    """tools/test.py with and without ``--fast-path bf16`` (forced: 'auto'
    may rightly pick float32 for a model this small): mIoU within 0.1 and
    99.5% of the pixels with the same label."""
    options = demo_options + (real_voc_options if data != 'demo val' else [])
    runs = {}
    for name, extra in (('fp32', []), ('bf16', ['--fast-path', 'bf16'])):
        out = tmp_path / name
        result = run_tool('test', demo_config, demo_checkpoint, '--work-dir',
                          tmp_path / f'work_{name}', '--out', out, *extra,
                          '--cfg-options', *options, cwd=tmp_path)
        runs[name] = (printed_summary(result.stdout), _labels(out))
    assert 'fast path: bf16+channels_last' in result.stdout
    (fp32, fp32_labels), (bf16, bf16_labels) = runs['fp32'], runs['bf16']
    assert abs(fp32['mIoU'] - bf16['mIoU']) <= 0.1, (fp32, bf16)
    if data == 'demo val':
        assert fp32['mIoU'] >= 50  # a model that segments
    assert fp32_labels.keys() == bf16_labels.keys() and fp32_labels
    same = sum((fp32_labels[k] == bf16_labels[k]).sum() for k in fp32_labels)
    total = sum(v.size for v in fp32_labels.values())
    assert same / total >= 0.995


def test_float32_classifier_survives_copies_and_loads_checkpoints():
    import copy

    from fcn_mm.apis.fast_layers import (cast_weights_to_bf16,
                                          classifier_layers, keep_float32)
    model = build_family('fcn8s_caffe')
    state = copy.deepcopy(model.state_dict())
    layers = classifier_layers(model)
    names = {n for n, m in model.named_modules() if m in layers}
    assert names == {'decode_head.score_fr', 'decode_head.score_pool4',
                     'decode_head.score_pool3', 'decode_head.upscore2',
                     'decode_head.upscore_pool4', 'decode_head.upscore8'}
    for layer in layers:
        keep_float32(layer)
    cast_weights_to_bf16(model)
    model.load_state_dict(state)  # keys unchanged
    copied = copy.deepcopy(model)
    x = torch.randn(1, 16, 3, 3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert copied.decode_head.score_fr(x).dtype == torch.float32
        assert copied.backbone.fc7.conv(x).dtype == torch.bfloat16
    assert copied.decode_head.score_fr.weight.dtype == torch.float32
    assert copied.backbone.fc7.conv.weight.dtype == torch.bfloat16
