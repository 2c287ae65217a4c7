"""FastFCNJPU: mmseg's JPU's layers and keys, exact agreement with it and,
with the authors' options, with the authors' JPU through the converter's key
table; output shapes; configuration errors."""
import re

import pytest
import torch
import torch.nn as nn
from mmseg.models.necks import JPU
from mmseg.registry import MODELS
from references.fastfcn_authors import JPU as AuthorsJPU

from fcn_mm.models.necks import FastFCNJPU

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')

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


@pytest.mark.parametrize('in_channels, dilations', [
    ((512, 1024, 2048), (1, 2, 4, 8)),  # mmseg's and the authors' default
    (TINY_IN[1:], (1, 2, 4)),
])
def test_state_dict_is_mmseg_jpus_key_for_key(in_channels, dilations):
    """The converters' tables and mmseg's checkpoints rely on this."""
    with torch.device('meta'):
        ref = JPU(in_channels=in_channels, dilations=dilations).state_dict()
        ours = FastFCNJPU(list(in_channels), dilations=list(dilations),
                          deep_first=True).state_dict()
    assert list(ours) == list(ref)
    assert [v.shape for v in ours.values()] == [v.shape for v in ref.values()]


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


BRANCH = {'0.conv1': 'depthwise_conv.conv', '0.bn': 'depthwise_conv.bn',
          '0.pointwise': 'pointwise_conv.conv', '1': 'pointwise_conv.bn'}


def to_ours(key):
    """The authors' -> ours key table of fcn_mm/models/necks/jpu.py."""
    module, param = key.rsplit('.', 1)
    if m := re.fullmatch(r'conv([345])\.([01])', module):
        module = f'conv_layers.{int(m[1]) - 3}.0.' + ('conv', 'bn')[int(m[2])]
    else:
        m = re.fullmatch(r'dilation(\d)\.(.+)', module)
        module = f'dilation_layers.{int(m[1]) - 1}.0.' + BRANCH[m[2]]
    return f'{module}.{param}'


def test_authors_jpu_weights_load_by_the_table_and_give_its_output():
    ref = randomize(AuthorsJPU(TINY_IN, MID))
    ours = FastFCNJPU(TINY_IN, mid_channels=MID, deep_first=True,
                      align_corners=True)
    ours.load_state_dict({to_ours(k): v for k, v in ref.state_dict().items()})
    inputs = features(17, 13)
    assert torch.equal(ours.eval()(inputs)[2], ref(*inputs))


def test_default_widths_give_2048_channels_at_stride_8():
    with torch.no_grad():
        out = FastFCNJPU().eval()(
            features(5, 3, channels=(512, 1024, 2048), n=1))
    assert [tuple(o.shape[1:]) for o in out] == [(512, 5, 3), (1024, 3, 2),
                                                 (2048, 5, 3)]


@pytest.mark.parametrize('h,w', [(64, 64), (17, 13), (1, 1)])
def test_shapes_for_512_and_odd_inputs(h, w):
    jpu = FastFCNJPU(TINY_IN, mid_channels=MID, dilations=(1, 2, 4))
    inputs = features(h, w)
    assert jpu.eval()(inputs)[2].shape == (2, 3 * MID, h, w)


def test_bad_configs_raise_errors_that_name_the_fix():
    with pytest.raises(ValueError, match='at least 2 in_channels'):
        FastFCNJPU((2048, ))
    with pytest.raises(ValueError, match=r'expects 3 feature maps.*got 2'):
        FastFCNJPU(TINY_IN, mid_channels=MID)(features(4, 4)[:2])
    assert MODELS.get('JPU') is JPU  # mmseg's own name is left alone
