"""FastFCNJPU / FastFCNJPUX: exact agreement with mmseg's JPU, the authors'
conventions and key table, output shapes, and configuration errors."""
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.necks import JPU
from mmseg.registry import MODELS

from fcn_mm.models.necks import FastFCNJPU, FastFCNJPUX

TINY_IN = (8, 12, 16)  # c2, c3, c4 channels small enough for fast tests
MID = 4


def randomize(module: nn.Module) -> nn.Module:
    """Random weights and BN statistics, so that no key can go unnoticed."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.endswith('running_var'):
                t.copy_(torch.rand_like(t) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn_like(t))
    return module.eval()


def features(h: int, w: int, channels=TINY_IN, n: int = 2):
    """(c2, c3, c4) for an (8h, 8w) image: each stage halves, rounding up."""
    sizes = [(h, w), (-(-h // 2), -(-w // 2)), (-(-h // 4), -(-w // 4))]
    return [torch.randn(n, c, *s) for c, s in zip(channels, sizes)]


@pytest.mark.parametrize('h,w', [(64, 64), (17, 13)])  # 512x512, odd input
def test_equals_mmseg_jpu_exactly_with_its_weights(h, w):
    ref = randomize(JPU(in_channels=TINY_IN, mid_channels=MID))
    ours = MODELS.build(
        dict(type='FastFCNJPU', in_channels=TINY_IN, mid_channels=MID))
    ours.load_state_dict(ref.state_dict(), strict=True)
    inputs = features(h, w)
    for train in (False, True):
        ref.train(train)
        ours.train(train)
        expected, got = ref(inputs), ours(inputs)
        assert len(got) == len(expected) == 3
        for e, g in zip(expected, got):
            assert torch.equal(e, g)
    assert got[2].shape == (2, 4 * MID, h, w)
    assert got[0] is inputs[0] and got[1] is inputs[1]


def test_authors_order_is_mmseg_order_with_branch_inputs_permuted():
    mmseg_order = randomize(FastFCNJPU(TINY_IN, mid_channels=MID))
    authors_order = FastFCNJPU(TINY_IN, mid_channels=MID, deep_first=True)
    state = mmseg_order.state_dict()
    for key, value in state.items():
        # Depthwise tensors and the pointwise input dim hold (c2, c3, c4)
        # blocks of MID channels; the authors' order is (c4, c3, c2).
        if 'pointwise_conv.conv' in key:
            state[key] = torch.cat(value.split(MID, dim=1)[::-1], dim=1)
        elif 'depthwise_conv' in key and value.dim() > 0:
            state[key] = torch.cat(value.split(MID)[::-1])
    authors_order.load_state_dict(state)
    authors_order.eval()
    inputs = features(9, 11)
    expected = mmseg_order(inputs)[2]
    torch.testing.assert_close(authors_order(inputs)[2], expected)
    authors_order.load_state_dict(mmseg_order.state_dict())
    assert not torch.allclose(authors_order(inputs)[2], expected)


# Authors' layout (wuhuikai/FastFCN encoding/nn/customize.py), rebuilt in
# plain torch to check the key table in fcn_mm/models/necks/jpu.py.
class AuthorsSeparable(nn.Module):

    def __init__(self, cin, cout, dilation, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=dilation,
                               dilation=dilation, groups=cin, bias=False)
        self.bn = norm(cin)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.bn(self.conv1(x)))


def conv_bn_relu(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU())


def up(x, like):
    return F.interpolate(x, like.shape[2:], mode='bilinear',
                         align_corners=True)


class AuthorsJPU(nn.Module):

    def __init__(self, cin, width, dilations=(1, 2, 4, 8)):
        super().__init__()
        self.conv3, self.conv4, self.conv5 = (conv_bn_relu(c, width)
                                              for c in cin)
        self.branches = [f'dilation{k}' for k in range(1, 5)]
        for name, d in zip(self.branches, dilations):
            self.add_module(name, nn.Sequential(
                AuthorsSeparable(3 * width, width, d, nn.BatchNorm2d),
                nn.BatchNorm2d(width), nn.ReLU()))

    def forward(self, c2, c3, c4):
        p2 = self.conv3(c2)
        feat = torch.cat([up(self.conv5(c4), p2), up(self.conv4(c3), p2), p2],
                         1)
        return torch.cat([getattr(self, b)(feat) for b in self.branches], 1)


class AuthorsJUM(nn.Module):

    def __init__(self, low, high, width, dilation, groups):
        super().__init__()
        self.conv_l, self.conv_h = conv_bn_relu(low, width), conv_bn_relu(
            high, width)
        gn = lambda c: nn.GroupNorm(groups, c)  # noqa: E731
        self.branches = [f'dilation{k}' for k in range(1, 4)]
        for k, name in enumerate(self.branches):
            self.add_module(name, nn.Sequential(
                AuthorsSeparable(2 * width, width, dilation * 2**k, gn),
                gn(width), nn.ReLU()))

    def forward(self, low, high):
        high = self.conv_h(high)
        low = up(self.conv_l(low), high)
        feat = torch.cat([low, high], 1)
        return torch.cat([low] + [getattr(self, b)(feat)
                                  for b in self.branches], 1)


BRANCH = {'0.conv1': 'depthwise_conv.conv', '0.bn': 'depthwise_conv.NORM',
          '0.pointwise': 'pointwise_conv.conv', '1': 'pointwise_conv.NORM'}


def to_ours(key):
    """The authors' -> ours key table of fcn_mm/models/necks/jpu.py."""
    module, param = key.rsplit('.', 1)
    if m := re.fullmatch(r'conv([345])\.([01])', module):
        module = f'conv_layers.{int(m[1]) - 3}.0.' + ('conv', 'bn')[int(m[2])]
    elif m := re.fullmatch(r'(jum_\d\.conv_[lh])\.([01])', module):
        module = f'{m[1]}.' + ('conv', 'bn')[int(m[2])]
    elif m := re.fullmatch(r'dilation(\d)\.(.+)', module):
        module = (f'dilation_layers.{int(m[1]) - 1}.0.' +
                  BRANCH[m[2]].replace('NORM', 'bn'))
    else:
        m = re.fullmatch(r'(jum_\d)\.dilation(\d)\.(.+)', module)
        module = (f'{m[1]}.dilation_layers.{int(m[2]) - 1}.' +
                  BRANCH[m[3]].replace('NORM', 'gn'))
    return f'{module}.{param}'


def test_authors_jpu_weights_load_by_the_table_and_give_its_output():
    ref = randomize(AuthorsJPU(TINY_IN, MID))
    ours = FastFCNJPU(TINY_IN, mid_channels=MID, deep_first=True,
                      align_corners=True)
    ours.load_state_dict({to_ours(k): v for k, v in ref.state_dict().items()})
    inputs = features(17, 13)
    assert torch.equal(ours.eval()(inputs)[2], ref(*inputs))


def test_authors_jpu_x_weights_load_by_the_table_and_give_its_output():
    width = 8
    ref = nn.Module()
    ref.jum_1 = AuthorsJUM(TINY_IN[1], TINY_IN[0], width // 2, 1, groups=2)
    ref.jum_2 = AuthorsJUM(TINY_IN[2], 2 * width, width, 2, groups=2)
    randomize(ref)
    ours = MODELS.build(
        dict(type='FastFCNJPUX', in_channels=TINY_IN, mid_channels=width,
             branch_norm_cfg=dict(type='GN', num_groups=2)))
    ours.load_state_dict({to_ours(k): v for k, v in ref.state_dict().items()})
    c2, c3, c4 = features(17, 13)
    out = ours.eval()([c2, c3, c4])
    assert out[0] is c2 and out[1] is c3
    assert torch.equal(out[2], ref.jum_2(c4, ref.jum_1(c3, c2)))
    assert out[2].shape == (2, 4 * width, 17, 13)


@pytest.mark.parametrize('neck', [FastFCNJPU, FastFCNJPUX])
def test_default_widths_give_2048_channels_at_stride_8(neck):
    with torch.no_grad():
        out = neck().eval()(features(5, 3, channels=(512, 1024, 2048), n=1))
    assert [tuple(o.shape[1:]) for o in out] == [(512, 5, 3), (1024, 3, 2),
                                                 (2048, 5, 3)]


@pytest.mark.parametrize('h,w', [(64, 64), (17, 13), (1, 1)])
def test_shapes_for_512_and_odd_inputs(h, w):
    jpu = FastFCNJPU(TINY_IN, mid_channels=MID, dilations=(1, 2, 4))
    jpux = FastFCNJPUX(TINY_IN, mid_channels=8,
                       branch_norm_cfg=dict(type='GN', num_groups=2))
    inputs = features(h, w)
    assert jpu.eval()(inputs)[2].shape == (2, 3 * MID, h, w)
    assert jpux.eval()(inputs)[2].shape == (2, 4 * 8, h, w)


def test_bad_configs_raise_errors_that_name_the_fix():
    with pytest.raises(ValueError, match='at least 2 in_channels'):
        FastFCNJPU((2048, ))
    with pytest.raises(ValueError, match=r'expects 3 feature maps.*got 2'):
        FastFCNJPU(TINY_IN, mid_channels=MID)(features(4, 4)[:2])
    with pytest.raises(ValueError, match='in_channels for \\(c2, c3, c4\\)'):
        FastFCNJPUX((512, 1024, 2048, 4096))
    with pytest.raises(ValueError, match='even mid_channels'):
        FastFCNJPUX(mid_channels=511)
    with pytest.raises(ValueError, match='out_indices'):
        FastFCNJPUX(TINY_IN, mid_channels=8, branch_norm_cfg=dict(
            type='GN', num_groups=2))(features(4, 4) * 2)
    assert MODELS.get('JPU') is JPU  # mmseg's own name is left alone
