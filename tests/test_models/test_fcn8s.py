"""FCNVGG16 + FCN8sHead: the reference network's size and shapes, modern
mode on any input size, bilinear upsampling, and configuration errors."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.models.decode_heads.fcn8s_head import bilinear_kernel

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')

TINY = dict(stage_channels=(4, 8, 16, 32, 32), fc_channels=32)


def build_fcn(mode, num_skips=2, num_classes=21, backbone=None, **head):
    backbone = dict(type='FCNVGG16', mode=mode, **(backbone or {}))
    widths = backbone.get('stage_channels', (64, 128, 256, 512, 512))
    head = dict(
        type='FCN8sHead', mode=mode, num_skips=num_skips,
        num_classes=num_classes,
        in_channels=(widths[2], widths[3], backbone.get('fc_channels', 4096)),
        **head)
    model = MODELS.build(
        dict(type='EncoderDecoder', backbone=backbone, decode_head=head,
             test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    return model.eval()


def predict_logits(model, h, w):
    """Logits as mmseg's predict pipeline returns them for an (h, w) input."""
    metas = [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))]
    with torch.no_grad():
        return model.inference(torch.randn(1, 3, h, w), metas)


@pytest.fixture(scope='module')
def caffe_fcn8s():
    """The full-size reference FCN-8s (134M parameters), built once."""
    return build_fcn('caffe')


def test_caffe_fcn8s_matches_the_reference_parameter_count(caffe_fcn8s):
    assert sum(p.numel() for p in caffe_fcn8s.parameters()) == 134_489_759


def test_caffe_fcn8s_shape_table_on_500x500(caffe_fcn8s):
    model = caffe_fcn8s
    with torch.no_grad():
        pool3, pool4, fc7 = model.backbone(torch.randn(1, 3, 500, 500))
        assert pool3.shape[2:] == (88, 88)
        assert pool4.shape[2:] == (44, 44)
        assert fc7.shape[2:] == (16, 16)
        upscore8 = model.decode_head((pool3, pool4, fc7))
    assert upscore8.shape == (1, 21, 568, 568)
    cropped = model.decode_head.to_input_size(upscore8, (500, 500))
    assert torch.equal(cropped, upscore8[:, :, 31:531, 31:531])


@pytest.mark.parametrize('num_skips,offset', [(2, 31), (1, 27), (0, 19)])
@pytest.mark.parametrize('size', [(64, 64), (37, 53), (1, 1)])
def test_caffe_fcn_crops_its_output_to_the_input(num_skips, offset, size):
    model = build_fcn('caffe', num_skips, num_classes=3, backbone=TINY)
    for p in model.decode_head.parameters():  # non-zero scores
        torch.nn.init.normal_(p)
    x = torch.randn(1, 3, *size)
    metas = [dict(img_shape=size, ori_shape=size, pad_shape=size)]
    with torch.no_grad():
        full = model.decode_head(model.backbone(x))
        logits = model.inference(x, metas)
    h, w = size
    assert logits.shape == (1, 3, h, w)
    torch.testing.assert_close(
        logits, full[:, :, offset:offset + h, offset:offset + w])


@pytest.mark.parametrize('num_skips', [2, 1, 0])
@pytest.mark.parametrize('size', [(512, 512), (37, 53), (97, 15), (1, 1)])
def test_modern_fcn_outputs_input_resolution(num_skips, size):
    model = build_fcn('modern', num_skips, num_classes=5, backbone=TINY)
    assert predict_logits(model, *size).shape == (1, 5, *size)


def test_modern_fcn_with_batchnorm_trains_on_odd_sizes():
    model = build_fcn('modern', num_classes=4,
                      backbone=dict(TINY, norm_cfg=dict(type='BN')))
    model.train()
    sample = SegDataSample(gt_sem_seg=PixelData(
        data=torch.randint(0, 4, (1, 45, 61))))
    sample.set_metainfo(dict(img_shape=(45, 61), pad_shape=(45, 61)))
    losses = model.loss(torch.randn(2, 3, 45, 61), [sample, sample])
    losses['decode.loss_ce'].backward()
    assert torch.isfinite(losses['decode.loss_ce'])
    assert model.backbone.conv1_1.bn is not None
    assert model.decode_head.upscore8.weight.grad is not None


def test_upsampling_is_frozen_in_caffe_mode_only():
    caffe = build_fcn('caffe', backbone=TINY).decode_head
    modern = build_fcn('modern', backbone=TINY).decode_head
    for name in ('upscore2', 'upscore_pool4', 'upscore8'):
        assert not getattr(caffe, name).weight.requires_grad
        assert getattr(modern, name).weight.requires_grad
        # init_weights must not overwrite the bilinear kernels
        assert torch.equal(getattr(caffe, name).weight,
                           getattr(modern, name).weight)


@pytest.mark.parametrize('stride', [2, 8, 16, 32])
def test_bilinear_kernel_upsamples_like_interpolate(stride):
    x = torch.randn(1, 3, 6, 7)
    up = F.conv_transpose2d(x, bilinear_kernel(3, 2 * stride), stride=stride,
                            padding=stride // 2)
    ref = F.interpolate(x, scale_factor=stride, mode='bilinear',
                        align_corners=False)
    assert up.shape == ref.shape
    # Equal wherever the interpolation does not clamp at the border.
    m = stride
    torch.testing.assert_close(up[..., m:-m, m:-m], ref[..., m:-m, m:-m])
    # Each class only feeds itself (the class diagonal).
    k = bilinear_kernel(3, 2 * stride)
    assert k[0, 1].abs().sum() == 0 and k[1, 1].sum() > 0


def test_score_layers_start_at_zero():
    head = build_fcn('caffe', backbone=TINY).decode_head
    for name in ('score_fr', 'score_pool4', 'score_pool3'):
        assert getattr(head, name).weight.abs().sum() == 0


def test_at_once_skip_scales_scale_the_skips():
    model = build_fcn('caffe', backbone=TINY)
    at_once = build_fcn('caffe', backbone=TINY, skip_scales=(0.01, 0.0001))
    at_once.load_state_dict(model.state_dict())
    for p in model.decode_head.parameters():
        torch.nn.init.normal_(p)
    at_once.decode_head.load_state_dict(model.decode_head.state_dict())
    with torch.no_grad():
        pool3, pool4, fc7 = model.backbone(torch.randn(1, 3, 40, 40))
        expected = model.decode_head((pool3 * 0.0001, pool4 * 0.01, fc7))
        got = at_once.decode_head((pool3, pool4, fc7))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize('head,match', [
    (dict(mode='exact'), "'caffe' or 'modern'"),
    (dict(num_skips=3), 'num_skips must be 2'),
    (dict(in_channels=(256, 512)), 'widths of \\(pool3, pool4, fc7\\)'),
    (dict(skip_scales=(0.1, )), 'factors for \\(pool4, pool3\\)'),
])
def test_head_rejects_bad_config(head, match):
    cfg = dict(type='FCN8sHead', num_classes=3, **head)
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg)


@pytest.mark.parametrize('backbone,match', [
    (dict(mode='exact'), 'mode must be one of'),
    (dict(stage_channels=(64, 128)), 'one width per VGG16 stage'),
    (dict(mode='caffe', norm_cfg=dict(type='BN')), 'no normalisation'),
])
def test_backbone_rejects_bad_config(backbone, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(type='FCNVGG16', **backbone))


@pytest.mark.parametrize('mode', ['caffe', 'modern'])
def test_mmseg_predict_gives_the_argmax_label_map_at_input_size(mode):
    """mmseg's segmentor API end to end: predict() resizes, crops and
    argmaxes what this backbone and head compute."""
    model = build_fcn(mode, num_classes=5, backbone=TINY)
    for p in model.decode_head.parameters():  # non-zero scores
        torch.nn.init.normal_(p)
    size = (37, 53)
    sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size,
                                         pad_shape=size))
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        [result] = model.predict(x, [sample])
        logits = model.inference(x, [sample.metainfo])[0]
    assert result.pred_sem_seg.data.shape == (1, *size)
    assert torch.equal(result.seg_logits.data, logits)
    assert torch.equal(result.pred_sem_seg.data[0], logits.argmax(0))
    assert result.pred_sem_seg.data.unique().numel() > 1
