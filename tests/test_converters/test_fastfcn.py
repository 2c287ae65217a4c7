"""FastFCN authors' checkpoints -> fcn_mm: with the authors' configs the
converted weights give the logits of the authors' forward (JPU + FCN, EncNet
and PSP heads, auxiliary head, SE output); the CLI reads a training
checkpoint; bad checkpoints are refused by key."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.runner import load_checkpoint
from converter_helpers import build, fcn_mm_outputs
from references.fastfcn_authors import JPU, conv_bn_relu, up
from references.resnet import ReferenceResNet, calibrate, fcn_head

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.converters import ConversionError, convert_fastfcn
from fcn_mm.engine import allow_mmengine_checkpoints
from fcn_mm.numerics import compare_with_float64, float64_copy

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')
ADE = 150


# The authors' heads (wuhuikai/FastFCN encoding/models/{fcn,encnet,psp}.py),
# their attribute names, plain torch; their JPU is in tests/references.
class FCNHead(nn.Module):

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv5 = fcn_head(in_channels, num_classes, nn.Dropout2d)

    def forward(self, x):
        return self.conv5(x)


class Encoding(nn.Module):
    """e_k = sum_i softmax_k(s_k |x_i - d_k|^2) (x_i - d_k), per image."""

    def __init__(self, channels, num_codes):
        super().__init__()
        self.codewords = nn.Parameter(torch.randn(num_codes, channels) * 0.1)
        self.scale = nn.Parameter(-torch.rand(num_codes))

    def forward(self, x):
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        dist = (x.pow(2).sum(-1, keepdim=True) - 2 * x @ self.codewords.T +
                self.codewords.pow(2).sum(-1))  # (B, N, K)
        weights = torch.softmax(dist * self.scale, dim=2)
        return (torch.einsum('bnk,bnd->bkd', weights, x) -
                weights.sum(1).unsqueeze(-1) * self.codewords)  # (B, K, D)


class Mean(nn.Module):

    def forward(self, x):
        return x.mean(1)


class EncModule(nn.Module):

    def __init__(self, channels, num_classes, num_codes=32):
        super().__init__()
        self.encoding = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(),
            Encoding(channels, num_codes), nn.BatchNorm1d(num_codes),
            nn.ReLU(), Mean())
        self.fc = nn.Sequential(nn.Linear(channels, channels), nn.Sigmoid())
        self.selayer = nn.Linear(channels, num_classes)

    def forward(self, x):
        en = self.encoding(x)
        gamma = self.fc(en)[:, :, None, None]
        return F.relu(x + x * gamma), self.selayer(en)


class EncHead(nn.Module):
    """With JPU the authors' conv5 is 1x1 (3x3 without)."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv5 = conv_bn_relu(in_channels, 512, k=1)
        self.encmodule = EncModule(512, num_classes)
        self.conv6 = nn.Sequential(nn.Dropout2d(0.1),
                                   nn.Conv2d(512, num_classes, 1))

    def forward(self, x):
        feat, se = self.encmodule(self.conv5(x))
        return self.conv6(feat), se


class PyramidPooling(nn.Module):

    def __init__(self, in_channels):
        super().__init__()
        for k, bins in enumerate((1, 2, 3, 6), 1):
            setattr(self, f'pool{k}', nn.AdaptiveAvgPool2d(bins))
            setattr(self, f'conv{k}', conv_bn_relu(in_channels,
                                                   in_channels // 4, k=1))

    def forward(self, x):
        return torch.cat([x] + [
            up(getattr(self, f'conv{k}')(getattr(self, f'pool{k}')(x)),
               x.shape[2:]) for k in range(1, 5)
        ], 1)


class PSPHead(nn.Module):

    def __init__(self, in_channels, num_classes):
        super().__init__()
        mid = in_channels // 4
        self.conv5 = nn.Sequential(
            PyramidPooling(in_channels),
            nn.Conv2d(2 * in_channels, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Dropout2d(0.1),
            nn.Conv2d(mid, num_classes, 1))

    def forward(self, x):
        return self.conv5(x)


class AuthorsFastFCN(nn.Module):
    """BaseNet with jpu='JPU' and ``aux``: returns (logits, aux logits) and,
    for EncNet, the SE logits last."""

    def __init__(self, head='fcn', num_classes=ADE, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.pretrained = ReferenceResNet(blocks, deep_stem=True,
                                          with_fc=True)
        self.jpu = JPU()
        self.head = dict(fcn=FCNHead, enc=EncHead,
                         psp=PSPHead)[head](2048, num_classes)
        self.auxlayer = FCNHead(1024, num_classes)

    def forward(self, x):
        _, c2, c3, c4 = self.pretrained(x)
        out = self.head(self.jpu(c2, c3, c4))
        out, extra = out if isinstance(out, tuple) else (out, ())
        size = x.shape[2:]
        return (up(out, size), up(self.auxlayer(c3), size)) + (
            (extra, ) if isinstance(extra, torch.Tensor) else ())


@pytest.fixture(scope='module')
def converted(request):
    """(authors' model, converted state dict, info, input) per head."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    source = calibrate(AuthorsFastFCN(request.param), x)
    state_dict, info = convert_fastfcn(source.state_dict())
    return source, state_dict, info, x


# The authors' heads resize with align_corners=True; at these toy sizes
# mmseg's resize notes that sizes of the form x+1 align better. Both models
# resize alike, so the comparison stands.
@pytest.mark.filterwarnings('ignore:When align_corners=True:UserWarning')
@pytest.mark.parametrize('converted', ['fcn', 'enc', 'psp'], indirect=True)
def test_converted_weights_reproduce_the_authors_logits(converted):
    source, state_dict, info, x = converted
    assert info['depth'] == 50 and info['num_classes'] == ADE
    assert info['cfg_options'] == {} and info['aux']
    assert len(info['dataset_meta']['classes']) == ADE
    model = build(info['config'])
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        expected = source(x)
        # The float64 run sets the bound: float32 noise of this CPU.
        exact = float64_copy(source)(x.double())
    got = fcn_mm_outputs(model, x, align_corners=True)
    assert len(got) == len(expected) == (3 if info['head'] == 'enc' else 2)
    for e, g, x64 in zip(expected, got, exact):
        assert e.shape == g.shape
        assert e.std() > 0.1  # not a vacuous comparison
        check = compare_with_float64(g, e, x64)
        assert check.passed, check
    # The authors' concat order is what makes it so.
    model.neck.deep_first = False
    got = fcn_mm_outputs(model, x, align_corners=True)
    assert (got[0] - expected[0]).abs().max() > 1e-2


def test_enc_1x1_conv_is_padded_into_the_3x3_bottleneck():
    with torch.device('meta'):
        source = AuthorsFastFCN('enc').state_dict()
    weights = torch.randn(512, 2048, 1, 1)
    source['head.conv5.0.weight'] = weights
    out, info = convert_fastfcn(source)
    padded = out['decode_head.bottleneck.conv.weight'].clone()
    assert info['bottleneck_kernel'] == 1 and padded.shape[2:] == (3, 3)
    assert torch.equal(padded[:, :, 1, 1], weights[:, :, 0, 0])
    padded[:, :, 1, 1] = 0
    assert not padded.any()


@pytest.mark.parametrize('head', ['fcn', 'enc', 'psp'])
def test_r101_keys_and_shapes_are_those_of_its_config(head):
    with torch.device('meta'):
        source = AuthorsFastFCN(head, blocks=(3, 4, 23, 3)).state_dict()
        state_dict, info = convert_fastfcn(source)
        model = build(info['config'])
    assert info['config'] == ('fastfcn/fastfcn_r101-d32_jpu_'
                              f'{head}_authors_ade20k-512x512.py')
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == expected
    assert 'pretrained.fc.weight' in source  # dropped, not converted


def test_other_classes_no_aux_no_se_are_config_options():
    with torch.device('meta'):
        source = AuthorsFastFCN('enc', num_classes=59)
        del source.auxlayer, source.head.encmodule.selayer
        state_dict, info = convert_fastfcn(source.state_dict())
        model = build(info['config'], info['cfg_options'])
    assert info['cfg_options'] == {
        'model.decode_head.num_classes': 59,
        'model.auxiliary_head': None,
        'model.decode_head.use_se_loss': False,
    }
    assert 'dataset_meta' not in info
    assert not model.with_auxiliary_head
    assert not hasattr(model.decode_head, 'se_layer')
    assert state_dict.keys() == model.state_dict().keys()


def save_training_checkpoint(model, path):
    """As the authors' train.py: DataParallel keys, optimizer, numpy score."""
    torch.save({
        'epoch': 120,
        'state_dict': {f'module.{k}': v
                       for k, v in model.state_dict().items()},
        'optimizer': {'state': {}, 'param_groups': []},
        'best_pred': np.float64(0.61),
    }, path)


@pytest.mark.parametrize('converted', ['fcn'], indirect=True)
def test_cli_converts_a_training_checkpoint(converted, tmp_path, capsys,
                                           load_tool):
    source, state_dict, info, _ = converted
    src, dst = tmp_path / 'model_best.pth.tar', tmp_path / 'out' / 'mm.pth'
    save_training_checkpoint(source, src)
    main = load_tool('tools/model_converters/fastfcn2mmseg.py').main
    assert main([str(src), str(dst)]) == 0
    assert capsys.readouterr().out == (
        f'converted {len(state_dict)} tensors of FastFCN (wuhuikai/FastFCN) '
        '(dropped pretrained.fc.weight, pretrained.fc.bias) -> '
        f'{dst}\ntest it with: python tools/test.py configs/fastfcn/'
        f'fastfcn_r50-d32_jpu_fcn_authors_ade20k-512x512.py {dst}\n')
    allow_mmengine_checkpoints()  # what tools/test.py does: weights only
    model = build(info['config'])
    checkpoint = load_checkpoint(model, str(dst), strict=True)
    assert checkpoint['meta']['config'] == info['config']
    for key, value in state_dict.items():
        assert torch.equal(model.state_dict()[key], value)
    assert main([str(tmp_path / 'absent.pth'), str(tmp_path / 'x.pth')]) == 1
    assert 'can not be found' in capsys.readouterr().err


@pytest.fixture(scope='module')
def tiny_source():
    """Meta-device weights: keys and shapes are all the checks read."""
    with torch.device('meta'):
        return AuthorsFastFCN('fcn').state_dict()


def test_missing_unknown_and_misshapen_keys_are_named(tiny_source,
                                                       names_bad_keys):
    names_bad_keys(
        convert_fastfcn, tiny_source,
        missing='jpu.dilation2.0.bn.running_var',
        unexpected='head.extra.weight',
        misshapen='pretrained.layer3.2.conv2.weight', shape=(256, 256, 1, 1),
        expected='(256, 256, 3, 3) (for backbone.layer3.2.conv2.weight)')


def test_unsupported_models_are_refused_with_the_reason(tiny_source):
    no_jpu = {k: v for k, v in tiny_source.items() if not k.startswith('jpu')}
    with pytest.raises(ConversionError, match='no jpu.* keys.*no JPU'):
        convert_fastfcn(no_jpu)
    # The authors' JPU_X (jpu.jum_1/jum_2), which fcn_mm does not build.
    jpu_x = dict(no_jpu, **{'jpu.jum_1.conv_l.0.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match=(
            r'missing key\(s\) jpu\.conv3\.0\.weight.*unexpected key\(s\) '
            r'jpu\.jum_1\.conv_l\.0\.weight, layers that configs/fastfcn/')):
        convert_fastfcn(jpu_x)
    lateral = dict(tiny_source, **{'head.connect.0.0.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match='lateral connections'):
        convert_fastfcn(lateral)
    aspp = {k.replace('head.conv5', 'head.aspp'): v
            for k, v in tiny_source.items()}
    with pytest.raises(ConversionError, match=r'no .* head found.*head.aspp'):
        convert_fastfcn(aspp)
    torchvision_like = {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7)}
    with pytest.raises(ConversionError, match=(
            r'missing key pretrained.conv1.0.weight.*deep-stem ResNet')):
        convert_fastfcn(torchvision_like)
    short = {k: v for k, v in tiny_source.items()
             if not k.startswith('pretrained.layer3.5.')}
    with pytest.raises(ConversionError, match=r'\(3, 4, 5, 3\) blocks'):
        convert_fastfcn(short)
