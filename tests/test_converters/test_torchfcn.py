"""pytorch-fcn -> fcn_mm: converted weights in the matching config give the
same logits as pytorch-fcn's own forward, for all four models; the CLI's
output loads with tools/test.py; bad checkpoints are refused by key."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.converters import (ConversionError, convert_torchfcn,
                               save_checkpoint)
from fcn_mm.converters.runner import CONFIG_ROOT
from fcn_mm.converters.torchfcn import CONFIGS
from fcn_mm.numerics import compare_with_float64, float64_copy

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')
# What each leaf config of the Caffe nets sets over their model, read from
# configs/fcn8s/*-caffe_vgg16_voc12.py.
HEADS = {
    'fcn32s': dict(num_skips=0),
    'fcn16s': dict(num_skips=1),
    'fcn8s': dict(num_skips=2),
    'fcn8s-atonce': dict(num_skips=2, skip_scales=(0.01, 0.0001)),
}
VARIANTS = tuple(HEADS)
FULL = dict(widths=(64, 128, 256, 512, 512), fc=4096)
TINY = dict(widths=(4, 8, 16, 32, 32), fc=24)
# The --cfg-options the converter prints for TINY weights of 21 classes.
TINY_OPTIONS = {
    'model.backbone.stage_channels': [4, 8, 16, 32, 32],
    'model.backbone.fc_channels': 24,
    'model.decode_head.in_channels': [16, 32, 24],
}


def crop(x, offset, like):
    """pytorch-fcn's alignment: ``x`` from ``offset``, ``like``'s size."""
    h, w = like.shape[2:]
    return x[:, :, offset:offset + h, offset:offset + w]


class PytorchFCN(nn.Module):
    """pytorch-fcn's FCN32s / FCN16s / FCN8s / FCN8sAtOnce at any width: its
    attribute names, layer shapes and forward (torchfcn/models/fcn*.py),
    without importing torchfcn. ReLU, pooling and Dropout2d hold no weights,
    so they are functional here and the state dict keys are the same."""

    STAGE_DEPTHS = (2, 2, 3, 3, 3)
    UPSAMPLING = {
        'fcn32s': (('upscore', 32), ),
        'fcn16s': (('upscore2', 2), ('upscore16', 16)),
        'fcn8s': (('upscore2', 2), ('upscore_pool4', 2), ('upscore8', 8)),
    }

    def __init__(self, variant, n_class, widths, fc):
        super().__init__()
        self.variant = variant
        self.skips = variant.replace('-atonce', '')
        cin = 3
        for s, (depth, cout) in enumerate(zip(self.STAGE_DEPTHS, widths), 1):
            for i in range(1, depth + 1):
                pad = 100 if (s, i) == (1, 1) else 1
                setattr(self, f'conv{s}_{i}',
                        nn.Conv2d(cin, cout, 3, padding=pad))
                cin = cout
        self.fc6 = nn.Conv2d(cin, fc, 7)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.score_fr = nn.Conv2d(fc, n_class, 1)
        if self.skips != 'fcn32s':
            self.score_pool4 = nn.Conv2d(widths[3], n_class, 1)
        if self.skips == 'fcn8s':
            self.score_pool3 = nn.Conv2d(widths[2], n_class, 1)
        for name, stride in self.UPSAMPLING[self.skips]:
            setattr(self, name, nn.ConvTranspose2d(
                n_class, n_class, 2 * stride, stride=stride, bias=False))

    def forward(self, x):
        h, pools = x, {}
        for s, depth in enumerate(self.STAGE_DEPTHS, 1):
            for i in range(1, depth + 1):
                h = F.relu(getattr(self, f'conv{s}_{i}')(h))
            h = pools[s] = F.max_pool2d(h, 2, stride=2, ceil_mode=True)
        h = self.score_fr(F.relu(self.fc7(F.relu(self.fc6(h)))))
        if self.skips == 'fcn32s':
            return crop(self.upscore(h), 19, x)
        atonce = self.variant == 'fcn8s-atonce'
        h = self.upscore2(h)
        pool4 = pools[4] * 0.01 if atonce else pools[4]
        h = h + crop(self.score_pool4(pool4), 5, h)
        if self.skips == 'fcn16s':
            return crop(self.upscore16(h), 27, x)
        h = self.upscore_pool4(h)
        pool3 = pools[3] * 0.0001 if atonce else pools[3]
        h = h + crop(self.score_pool3(pool3), 9, h)
        return crop(self.upscore8(h), 31, x)


def randomize_(model, seed=0):
    """He-normal weights and small random biases everywhere (pytorch-fcn
    zeroes its convs, which would make any conversion look right)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.ConvTranspose2d):
                # (in, out, k, k) with k = 2 x stride: 4 taps per output.
                std = 1 / math.sqrt(4 * module.in_channels)
            elif isinstance(module, nn.Conv2d):
                std = math.sqrt(2 / module.weight[0].numel())
            else:
                continue
            module.weight.copy_(
                torch.randn(module.weight.shape, generator=generator) * std)
            if module.bias is not None:
                module.bias.copy_(
                    torch.randn(module.bias.shape, generator=generator) * 0.1)
    return model.eval()


def source_model(variant, n_class=21, width=TINY, seed=0):
    with torch.device('meta'):  # allocate once, in randomize_
        model = PytorchFCN(variant, n_class, **width)
    return randomize_(model.to_empty(device='cpu'), seed)


def fcn_mm_model(variant, options, meta=False):
    """The Caffe FCN model with ``variant``'s head, as its leaf config builds
    it, and the converter's ``cfg_options``; on the meta device (to be filled
    by load_state_dict) when ``meta``."""
    cfg = Config.fromfile(CONFIG_ROOT / '_base_/models/fcn8s_vgg16_caffe.py')
    cfg.model.decode_head.update(HEADS[variant])
    cfg.merge_from_dict(options)
    if meta:
        with torch.device('meta'):
            return MODELS.build(cfg.model).to_empty(device='cpu').eval()
    return MODELS.build(cfg.model).eval()


def predict(model, x):
    h, w = x.shape[2:]
    metas = [dict(img_shape=(h, w), ori_shape=(h, w))] * x.shape[0]
    with torch.no_grad():
        return model.inference(x, metas)


def assert_reproduces(model, source, x):
    """``model``'s logits are pytorch-fcn's within float32 noise: against
    ``source`` in float64, within the bound its float32 error sets."""
    with torch.no_grad():
        expected = source(x)
        exact = float64_copy(source)(x.double())
    assert expected.abs().max() > 0.1  # not a vacuous comparison
    check = compare_with_float64(predict(model, x), expected, exact)
    assert check.passed, (tuple(x.shape), check)


@pytest.mark.numeric
@pytest.mark.parametrize('variant', VARIANTS)
def test_converted_weights_reproduce_pytorch_fcn(variant):
    source = source_model(variant, n_class=5)
    state_dict, info = convert_torchfcn(
        source.state_dict(),
        variant='fcn8s-atonce' if variant == 'fcn8s-atonce' else 'auto')
    assert info['variant'] == variant
    assert info['config'] == CONFIGS[variant]
    assert info['cfg_options'] == dict(
        TINY_OPTIONS, **{'model.decode_head.num_classes': 5})
    assert 'dataset_meta' not in info  # only 21 classes are VOC's
    model = fcn_mm_model(variant, info['cfg_options'])
    model.load_state_dict(state_dict, strict=True)
    generator = torch.Generator().manual_seed(1)
    for size in [(64, 64), (37, 53), (1, 1)]:
        x = torch.randn(2, 3, *size, generator=generator)
        assert predict(model, x).shape == (2, 5, *size)
        assert_reproduces(model, source, x)


def test_atonce_weights_differ_under_the_plain_config():
    """Why --variant fcn8s-atonce matters: same keys, other outputs."""
    source = source_model('fcn8s-atonce', n_class=5)
    state_dict, info = convert_torchfcn(source.state_dict())
    assert info['variant'] == 'fcn8s'  # the keys cannot tell
    model = fcn_mm_model('fcn8s', info['cfg_options'])
    model.load_state_dict(state_dict)
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        assert (predict(model, x) - source(x)).abs().max() > 1e-2


def test_full_width_fcn8s_converts_and_matches():
    source = source_model('fcn8s', width=FULL)
    state_dict, info = convert_torchfcn(source.state_dict())
    assert info['stage_channels'] == list(FULL['widths'])
    assert info['fc_channels'] == 4096
    assert info['cfg_options'] == {}  # the configs' own widths
    assert state_dict['backbone.fc6.conv.weight'].shape == (4096, 512, 7, 7)
    assert info['dataset_meta']['classes'][0] == 'background'
    assert len(info['dataset_meta']['palette']) == 21
    model = fcn_mm_model('fcn8s', {}, meta=True)
    model.load_state_dict(state_dict, strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert_reproduces(model, source, x)


def test_trainer_checkpoint_and_data_parallel_keys_are_accepted():
    weights = source_model('fcn16s', n_class=3).state_dict()
    bare, _ = convert_torchfcn(weights)
    wrapped = {'epoch': 3, 'iteration': 1000, 'arch': 'FCN16s',
               'best_mean_iu': np.float64(0.6),
               'model_state_dict': {f'module.{k}': v
                                    for k, v in weights.items()}}
    converted, info = convert_torchfcn(wrapped)
    assert info['variant'] == 'fcn16s'
    assert converted.keys() == bare.keys()
    assert all(torch.equal(converted[k], bare[k]) for k in bare)


def test_saved_checkpoint_loads_weights_only_through_mmengine(tmp_path):
    source = source_model('fcn32s')
    state_dict, info = convert_torchfcn(source.state_dict())
    path = tmp_path / 'sub' / 'fcn32s.pth'
    save_checkpoint(state_dict, str(path), meta=info)
    # The checkpoint and its sha256 sidecar, no temporaries.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        'fcn32s.pth', 'fcn32s.pth.sha256']
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint['meta']['variant'] == 'fcn32s'
    model = fcn_mm_model('fcn32s', info['cfg_options'])
    load_checkpoint(model, str(path), strict=True)
    assert_reproduces(model, source, torch.randn(1, 3, 30, 45))


@pytest.fixture(scope='module')
def fcn8s_weights():
    return source_model('fcn8s', n_class=3).state_dict()


def test_missing_key_is_named(fcn8s_weights):
    weights = dict(fcn8s_weights)
    del weights['conv3_2.bias']
    with pytest.raises(ConversionError,
                       match=r'missing key\(s\) conv3_2\.bias'):
        convert_torchfcn(weights)


def test_unknown_key_is_named(fcn8s_weights):
    weights = dict(fcn8s_weights, **{'bn1.running_mean': torch.zeros(4)})
    with pytest.raises(ConversionError,
                       match=r'unexpected key\(s\) bn1\.running_mean'):
        convert_torchfcn(weights)


def test_wrong_shape_names_the_key_and_both_shapes(fcn8s_weights):
    weights = dict(fcn8s_weights)
    weights['upscore8.weight'] = torch.zeros(3, 3, 8, 8)
    with pytest.raises(ConversionError) as error:
        convert_torchfcn(weights)
    assert str(error.value).startswith(
        'upscore8.weight: expected shape (3, 3, 16, 16) (for '
        'decode_head.upscore8.weight), found (3, 3, 8, 8)')


def test_variant_that_contradicts_the_keys_is_refused(fcn8s_weights):
    with pytest.raises(ConversionError,
                       match="'fcn32s' was asked for, but the keys are those "
                       "of pytorch-fcn FCN8s; pass variant 'fcn8s' or "
                       "'fcn8s-atonce'"):
        convert_torchfcn(fcn8s_weights, variant='fcn32s')
    with pytest.raises(ConversionError, match="got 'fcn4s'"):
        convert_torchfcn(fcn8s_weights, variant='fcn4s')


def test_non_state_dicts_are_refused():
    with pytest.raises(ConversionError, match='found a list'):
        convert_torchfcn([torch.zeros(1)])
    with pytest.raises(ConversionError, match=r'non-tensor entries: epoch'):
        convert_torchfcn({'epoch': 3, 'conv1_1.weight': torch.zeros(1)})
    with pytest.raises(ConversionError,
                       match=r'missing key conv1_1\.weight: this is not a '
                       'pytorch-fcn FCN32s state dict'):
        convert_torchfcn({'features.0.weight': torch.zeros(1)})


def test_cli_refuses_and_leaves_no_file(tmp_path, load_tool, capsys):
    src, dst = tmp_path / 'fcn8s.pth', tmp_path / 'out.pth'
    torch.save({'conv1_1.weight': torch.zeros(1)}, src)
    main = load_tool('tools/model_converters/torchfcn2mmseg.py').main
    assert main([str(src), str(dst)]) == 1
    assert capsys.readouterr().err.startswith(
        f'error: {src} -> {dst}: conv1_1.weight: expected a tensor of 2 or '
        'more dimensions in a pytorch-fcn FCN32s state dict, found shape (1,)')
    assert main([str(tmp_path / 'absent.pth'), str(dst)]) == 1
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.slow
def test_cli_output_runs_in_tools_test(tmp_path, demo_voc_root, run_tool):
    """Convert a tiny pytorch-fcn FCN8s as its Trainer saves it, then run the
    command the converter prints, on the demo data."""
    weights = source_model('fcn8s').state_dict()
    src, dst = tmp_path / 'checkpoint.pth.tar', tmp_path / 'fcn8s_mm.pth'
    torch.save({'epoch': 1, 'model_state_dict': weights}, src)
    result = run_tool('model_converters/torchfcn2mmseg', src, dst,
                      cwd=CONFIG_ROOT.parent)
    converted, command = result.stdout.splitlines()  # and no warnings
    assert converted == f'converted 39 tensors of pytorch-fcn FCN8s -> {dst}'
    prompt = ('test it with: python tools/test.py configs/fcn8s/fcn8s-caffe_'
              f'vgg16_voc12.py {dst} --cfg-options ')
    assert command.startswith(prompt)
    options = command[len(prompt):].split()
    assert options == [f'{k}={v}'.replace(' ', '') for k, v in
                       TINY_OPTIONS.items()]
    test = run_tool(
        'test', CONFIG_ROOT / CONFIGS['fcn8s'], dst,
        '--work-dir', tmp_path / 'work', '--cfg-options', *options,
        f'test_dataloader.dataset.data_root={demo_voc_root}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', cwd=tmp_path)
    assert f'Load checkpoint from {dst}' in test.stdout
    assert 'do not match exactly' not in test.stdout  # every key loaded
    assert 'mIoU: ' in test.stdout
