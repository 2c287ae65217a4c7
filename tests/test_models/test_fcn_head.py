"""ReducedFCNHead: torchvision's size, mmseg's keys, losses as decode and
auxiliary head behind FastFCNJPU, and configuration errors."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.models.decode_heads import ReducedFCNHead
from fcn_mm.models.necks import FastFCNJPU  # noqa: F401  (registers it)

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')


def samples(n, h, w, num_classes):
    return [
        SegDataSample(gt_sem_seg=PixelData(
            data=torch.randint(0, num_classes, (1, h, w))))
        for _ in range(n)
    ]


def test_torchvision_layout_and_parameter_count():
    head = ReducedFCNHead(2048, num_classes=21)
    # torchvision's FCNHead(2048, 21): 2048*512*9 + 2*512 + 512*21 + 21.
    assert sum(p.numel() for p in head.parameters()) == 9_448_981
    conv = head.convs[0]
    assert conv.conv.kernel_size == (3, 3) and conv.conv.bias is None
    assert conv.conv.out_channels == 512
    assert isinstance(conv.bn, torch.nn.BatchNorm2d)
    assert head.conv_seg.in_channels == 512 and head.dropout.p == 0.1


def test_loads_mmseg_fastfcn_auxiliary_head_unchanged():
    # mmseg's FastFCN configs: FCNHead(1024 -> 256, num_convs=1, no concat).
    ref = FCNHead(in_channels=16, channels=4, num_convs=1, concat_input=False,
                  num_classes=3, norm_cfg=dict(type='BN')).eval()
    head = ReducedFCNHead(16, num_classes=3).eval()
    head.load_state_dict(ref.state_dict(), strict=True)
    x = [torch.randn(2, 16, 7, 5)]
    assert torch.equal(head(x), ref(x))
    assert head(x).shape == (2, 3, 7, 5)


def test_loss_as_decode_and_auxiliary_head_behind_jpu():
    norm = dict(type='BN')
    head = dict(type='ReducedFCNHead', num_classes=3, norm_cfg=norm)
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=4, out_indices=(1, 2, 3),
                      norm_cfg=norm),  # (8, 16, 32) channels at 1/8..1/32
        neck=dict(type='FastFCNJPU', in_channels=(8, 16, 32),
                  mid_channels=4, norm_cfg=norm),
        decode_head=dict(head, in_channels=16, in_index=2),
        auxiliary_head=dict(
            head, in_channels=16, in_index=1,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        train_cfg=dict(), test_cfg=dict(mode='whole')))
    images = torch.randn(2, 3, 48, 40)
    losses = model.loss(images, samples(2, 48, 40, num_classes=3))
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    total = losses['decode.loss_ce'] + losses['aux.loss_ce']
    assert torch.isfinite(total)
    total.backward()
    assert model.decode_head.conv_seg.weight.grad.abs().sum() > 0
    assert model.neck.conv_layers[0][0].conv.weight.grad is not None


def test_head_loss_alone_on_a_tiny_batch():
    head = ReducedFCNHead(8, num_classes=4, in_index=0)
    losses = head.loss([torch.randn(2, 8, 6, 6)], samples(2, 24, 24, 4),
                       train_cfg=dict())
    assert losses['loss_ce'] > 0 and 'acc_seg' in losses


def test_bad_configs_raise_errors_that_name_the_fix():
    with pytest.raises(TypeError, match=r"fixes \['num_convs'\].*FCNHead"):
        ReducedFCNHead(2048, num_classes=21, num_convs=2)
    with pytest.raises(ValueError, match='one feature map'):
        ReducedFCNHead([1024, 2048], num_classes=21)
    with pytest.raises(ValueError, match='at least 4'):
        ReducedFCNHead(2, num_classes=21)
