"""ImageNet VGG16 -> FCNVGG16: a backbone initialised from the converted file
(as configs do it, or through load_from with the prefix) computes what
torchvision's VGG16 computes; bad checkpoints are refused by key."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.converters import (ConversionError, convert_torchvision_vgg16,
                               save_checkpoint)
from fcn_mm.numerics import compare_with_float64

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')
# Indices of the 13 convs in torchvision's vgg16().features, by stage.
CONV_INDICES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
CAFFE_NAMES = [f'conv{s}_{i}' for s, stage in enumerate(CONV_INDICES, 1)
               for i in range(1, len(stage) + 1)]
TINY = dict(stage_channels=(4, 8, 16, 32, 32), fc_channels=24)


def torchvision_state_dict(stage_channels=TINY['stage_channels'],
                           fc_channels=TINY['fc_channels'], num_classes=10,
                           empty=False):
    """A torchvision ``vgg16()`` state dict, He-normal random (or
    uninitialised when ``empty``)."""
    generator = torch.Generator().manual_seed(0)

    def tensor(*shape, std):
        if empty:
            return torch.empty(shape)
        return torch.randn(shape, generator=generator) * std

    state_dict, cin = {}, 3
    for stage, cout in zip(CONV_INDICES, stage_channels):
        for i in stage:
            state_dict[f'features.{i}.weight'] = tensor(
                cout, cin, 3, 3, std=math.sqrt(2 / (9 * cin)))
            state_dict[f'features.{i}.bias'] = tensor(cout, std=0.1)
            cin = cout
    for i, (fan_in, fan_out) in zip(
            (0, 3, 6), ((cin * 49, fc_channels), (fc_channels, fc_channels),
                        (fc_channels, num_classes))):
        state_dict[f'classifier.{i}.weight'] = tensor(
            fan_out, fan_in, std=math.sqrt(2 / fan_in))
        state_dict[f'classifier.{i}.bias'] = tensor(fan_out, std=0.1)
    return state_dict


def torchvision_forward(state_dict, x):
    """torchvision's VGG16 forward up to fc7's ReLU (eval mode), written from
    its layout: returns pool3, pool4 and the fc7 activations (N, C)."""
    pools = []
    for stage in CONV_INDICES:
        for i in stage:
            x = F.relu(F.conv2d(x, state_dict[f'features.{i}.weight'],
                                state_dict[f'features.{i}.bias'], padding=1))
        x = F.max_pool2d(x, 2, stride=2)
        pools.append(x)
    x = F.adaptive_avg_pool2d(x, 7).flatten(1)
    for i in (0, 3):
        x = F.relu(F.linear(x, state_dict[f'classifier.{i}.weight'],
                            state_dict[f'classifier.{i}.bias']))
    return pools[2], pools[3], x


def build_segmentor(backbone_init_cfg=None):
    """Modern FCN-8s at TINY width; fc6 is padded, so on a 224x224 image its
    centre (3, 3) sees exactly the 7x7 pool5 map that torchvision flattens."""
    backbone = dict(type='FCNVGG16', mode='modern', **TINY)
    if backbone_init_cfg:
        backbone['init_cfg'] = backbone_init_cfg
    model = MODELS.build(
        dict(type='EncoderDecoder', backbone=backbone,
             decode_head=dict(type='FCN8sHead', mode='modern', num_classes=3,
                              in_channels=(16, 32, TINY['fc_channels'])),
             test_cfg=ConfigDict(mode='whole')))
    model.init_weights()
    return model.eval()


def assert_matches_torchvision(backbone, state_dict):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pool3, pool4, fc7 = backbone(x)
        expected = torchvision_forward(state_dict, x)
        # The float64 run sets the bound: float32 noise of this CPU.
        exact = torchvision_forward(
            {k: v.double() for k, v in state_dict.items()}, x.double())
    assert expected[2].abs().max() > 0.1  # not a vacuous comparison
    assert fc7.shape[2:] == (7, 7)
    for got, e, x64 in zip((pool3, pool4, fc7[:, :, 3, 3]), expected, exact):
        check = compare_with_float64(got, e, x64)
        assert check.passed, check


@pytest.mark.parametrize('as_list', [True, False])
def test_pretrained_init_cfg_on_the_backbone_reads_the_file(tmp_path, as_list):
    """What configs/fcn8s_voc_aug.py does (init_cfg as a dict; a list works
    too): unprefixed keys, loaded by mmengine's Pretrained initialiser into
    the backbone module."""
    source = torchvision_state_dict()
    state_dict, info = convert_torchvision_vgg16(source)
    assert info['dropped'] == ['classifier.6.weight', 'classifier.6.bias']
    assert info['stage_channels'] == list(TINY['stage_channels'])
    path = tmp_path / 'vgg16.pth'
    save_checkpoint(state_dict, str(path), meta=info)
    init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model = build_segmentor([init_cfg] if as_list else init_cfg)
    assert state_dict.keys() == model.backbone.state_dict().keys()
    assert_matches_torchvision(model.backbone, source)


def test_load_from_needs_and_takes_the_backbone_prefix(tmp_path):
    source = torchvision_state_dict()
    state_dict, info = convert_torchvision_vgg16(source, prefix='backbone.')
    assert all(k.startswith('backbone.') for k in state_dict)
    path = tmp_path / 'vgg16_load_from.pth'
    save_checkpoint(state_dict, str(path), meta=info)
    model = build_segmentor()
    # What the runner does with load_from: the file into the whole model.
    load_checkpoint(model, str(path), map_location='cpu')
    assert_matches_torchvision(model.backbone, source)

    # Unprefixed keys name no parameter of the segmentor: nothing loads.
    unprefixed = tmp_path / 'vgg16_init.pth'
    save_checkpoint(convert_torchvision_vgg16(source)[0], str(unprefixed))
    model = build_segmentor()
    before = model.backbone.conv1_1.conv.weight.clone()
    load_checkpoint(model, str(unprefixed), map_location='cpu')
    assert torch.equal(model.backbone.conv1_1.conv.weight, before)


def test_caffe_layer_names_convert_to_the_same_weights():
    source = torchvision_state_dict()
    expected, _ = convert_torchvision_vgg16(source)
    names = dict(zip((f'features.{i}' for stage in CONV_INDICES
                      for i in stage), CAFFE_NAMES))
    names.update({'classifier.0': 'fc6', 'classifier.3': 'fc7',
                  'classifier.6': 'fc8'})
    caffe = {f'{names[k.rsplit(".", 1)[0]]}.{k.rsplit(".", 1)[1]}': v
             for k, v in source.items()}
    # fc6 as a conv already, fc7 as a matrix: both are read.
    caffe['fc6.weight'] = caffe['fc6.weight'].reshape(24, 32, 7, 7)
    converted, info = convert_torchvision_vgg16({'state_dict': caffe})
    assert info['source'] == 'VGG16 with Caffe layer names'
    assert info['dropped'] == ['fc8.weight', 'fc8.bias']
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[k], expected[k]) for k in expected)


def test_full_width_vgg16_fits_the_reference_backbone():
    with torch.device('meta'):  # shapes only
        source = torchvision_state_dict((64, 128, 256, 512, 512), 4096, 1000,
                                        empty=True)
        backbone = MODELS.build(dict(type='FCNVGG16', mode='caffe'))
    state_dict, info = convert_torchvision_vgg16(source)
    assert info['fc_channels'] == 4096
    assert state_dict['fc6.conv.weight'].shape == (4096, 512, 7, 7)
    assert state_dict['fc7.conv.weight'].shape == (4096, 4096, 1, 1)
    expected = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == expected


def test_batchnorm_vgg_is_refused_by_key():
    source = torchvision_state_dict()
    source['features.1.running_mean'] = torch.zeros(4)
    with pytest.raises(ConversionError,
                       match=r'unexpected key\(s\) features\.1\.running_mean, '
                       'layers that FCNVGG16 does not have'):
        convert_torchvision_vgg16(source)


def test_missing_key_is_named():
    source = torchvision_state_dict()
    del source['classifier.3.bias']
    with pytest.raises(ConversionError,
                       match=r'missing key\(s\) classifier\.3\.bias'):
        convert_torchvision_vgg16(source)


def test_wrong_shape_names_the_key_and_both_shapes():
    source = torchvision_state_dict()
    source['classifier.0.weight'] = torch.zeros(24, 32 * 6 * 6)
    with pytest.raises(ConversionError,
                       match=r'^classifier\.0\.weight: expected shape '
                       r'\(24, 32, 7, 7\) \(for fc6\.conv\.weight\), '
                       r'found \(24, 1152\)'):
        convert_torchvision_vgg16(source)


def test_other_models_are_refused():
    with pytest.raises(ConversionError,
                       match='found keys such as conv1.weight'):
        convert_torchvision_vgg16({'conv1.weight': torch.zeros(1)})


def test_cli_converts_and_refuses(tmp_path, load_tool, capsys):
    src, dst = tmp_path / 'vgg16.pth', tmp_path / 'out' / 'vgg16_mm.pth'
    torch.save(torchvision_state_dict(), src)
    main = load_tool('tools/model_converters/vgg2mmseg.py').main
    assert main([str(src), str(dst), '--prefix', 'backbone.']) == 0
    assert capsys.readouterr().out == (
        'converted 30 tensors of torchvision VGG16 (dropped '
        f'classifier.6.weight, classifier.6.bias) -> {dst}\n')
    checkpoint = torch.load(dst, weights_only=True)
    assert 'backbone.fc6.conv.weight' in checkpoint['state_dict']
    assert checkpoint['meta']['prefix'] == 'backbone.'

    bad = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(1)}, bad)
    assert main([str(bad), str(tmp_path / 'never.pth')]) == 1
    assert capsys.readouterr().err.startswith(f'error: {bad} -> ')
    assert not (tmp_path / 'never.pth').exists()
