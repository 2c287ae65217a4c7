"""torchvision fcn_resnet50/101 -> fcn_mm: the converted weights in
configs/fcn_torchvision give torchvision's logits (decode and auxiliary),
which depends on mmseg's contract_dilation reproducing where torchvision
dilates; bad state dicts are refused by key."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.runner import load_checkpoint
from converter_helpers import build, fcn_mm_outputs
from references.resnet import ReferenceResNet, calibrate, fcn_head

import fcn_mm  # noqa: F401  (registers the models)
from fcn_mm.converters import ConversionError, convert_torchvision_fcn
from fcn_mm.engine import allow_mmengine_checkpoints
from fcn_mm.numerics import compare_with_float64, float64_copy

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')
VOC = 21


class TorchvisionFCN(nn.Module):
    """torchvision's FCN: ``backbone`` (IntermediateLayerGetter over its
    ResNet, no avgpool/fc), ``classifier``, ``aux_classifier``; logits
    upsampled with align_corners=False."""

    def __init__(self, blocks=(3, 4, 6, 3), num_classes=VOC, aux=True):
        super().__init__()
        self.backbone = ReferenceResNet(blocks, dilate=(False, True, True))
        self.classifier = fcn_head(2048, num_classes)
        self.aux_classifier = fcn_head(1024, num_classes) if aux else None

    def forward(self, x):
        _, _, c3, c4 = self.backbone(x)
        size = x.shape[2:]
        return tuple(
            F.interpolate(head(feat), size, mode='bilinear',
                          align_corners=False)
            for head, feat in ((self.classifier, c4),
                               (self.aux_classifier, c3)))


@pytest.fixture(scope='module')
def converted():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    source = calibrate(TorchvisionFCN(), x)
    state_dict, info = convert_torchvision_fcn(source.state_dict())
    return source, state_dict, info, x


def test_converted_weights_reproduce_torchvision_logits(converted):
    source, state_dict, info, x = converted
    assert info['config'] == ('fcn_torchvision/fcn_r50b-d8_4xb4-20k_'
                              'voc12aug-512x512.py')
    assert info['depth'] == 50 and info['aux'] and info['cfg_options'] == {}
    assert info['dataset_meta']['classes'][0] == 'background'
    model = build(info['config'])
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        expected = source(x)
        # The float64 run sets the bound: float32 noise of this CPU.
        exact = float64_copy(source)(x.double())
    got = fcn_mm_outputs(model, x, align_corners=False)
    for e, g, x64 in zip(expected, got, exact):
        assert e.shape == g.shape == (2, VOC, 64, 64)
        assert e.std() > 0.1  # not a vacuous comparison
        check = compare_with_float64(g, e, x64)
        assert check.passed, check
    # Dilating the first block of layer3/layer4 too (contract_dilation=False)
    # is the same network with other outputs.
    other = build(info['config'],
                  {'model.backbone.contract_dilation': False})
    other.load_state_dict(state_dict, strict=True)
    got = fcn_mm_outputs(other, x, align_corners=False)
    assert (got[0] - expected[0]).abs().max() > 1e-2


def test_r101_keys_and_shapes_are_those_of_its_config():
    with torch.device('meta'):
        source = TorchvisionFCN(blocks=(3, 4, 23, 3)).state_dict()
        state_dict, info = convert_torchvision_fcn(source)
        model = build(info['config'])
    assert info['config'] == ('fcn_torchvision/fcn_r101b-d8_4xb4-20k_'
                              'voc12aug-512x512.py')
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == expected


def test_other_classes_and_no_aux_are_config_options():
    with torch.device('meta'):
        source = TorchvisionFCN(num_classes=5, aux=False).state_dict()
        state_dict, info = convert_torchvision_fcn(
            {'epoch': 30, 'state_dict': source})
    assert not any(k.startswith('auxiliary_head') for k in state_dict)
    assert info['cfg_options'] == {
        'model.decode_head.num_classes': 5,
        'model.auxiliary_head': None
    }
    assert 'dataset_meta' not in info


def test_cli_writes_a_checkpoint_the_config_loads(converted, tmp_path,
                                                  capsys, load_tool):
    source, state_dict, info, _ = converted
    src, dst = tmp_path / 'fcn_resnet50.pth', tmp_path / 'fcn_mm.pth'
    torch.save(source.state_dict(), src)
    main = load_tool('tools/model_converters/torchvision_fcn2mmseg.py').main
    assert main([str(src), str(dst)]) == 0
    printed = capsys.readouterr().out
    assert f'converted {len(state_dict)} tensors of torchvision FCN' in printed
    assert f'tools/test.py configs/{info["config"]} {dst}\n' in printed
    allow_mmengine_checkpoints()  # what tools/test.py does: weights only
    model = build(info['config'])
    load_checkpoint(model, str(dst), strict=True)
    for key, value in state_dict.items():
        assert torch.equal(model.state_dict()[key], value)


@pytest.fixture(scope='module')
def meta_source():
    """Meta-device weights: keys and shapes are all the checks read."""
    with torch.device('meta'):
        return TorchvisionFCN().state_dict()


def test_missing_unknown_and_misshapen_keys_are_named(meta_source,
                                                       names_bad_keys):
    names_bad_keys(
        convert_torchvision_fcn, meta_source,
        missing='backbone.layer4.0.downsample.1.weight',
        unexpected='backbone.fc.weight',
        misshapen='aux_classifier.0.weight', shape=(256, 512, 3, 3),
        expected='(256, 1024, 3, 3) (for auxiliary_head.convs.0.conv.weight)')


def test_imagenet_resnets_and_other_depths_are_refused(meta_source):
    imagenet = {k[len('backbone.'):]: v for k, v in meta_source.items()
                if k.startswith('backbone.')}
    imagenet['fc.weight'] = torch.zeros(1000, 2048)
    with pytest.raises(ConversionError,
                       match='ImageNet ResNet.*init weights, '
                       r'model\.backbone\.init_cfg\.checkpoint \(see'):
        convert_torchvision_fcn(imagenet)
    with pytest.raises(ConversionError,
                       match=r'missing key backbone.conv1.weight: this is not '
                       'a torchvision FCN'):
        convert_torchvision_fcn({'conv1.weight': torch.zeros(1)})
    with torch.device('meta'):
        truncated = TorchvisionFCN(blocks=(3, 4, 6, 2)).state_dict()
    with pytest.raises(ConversionError, match=r'\(3, 4, 6, 2\) blocks'):
        convert_torchvision_fcn(truncated)
