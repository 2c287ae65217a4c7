"""Every model family fcn_mm deploys, shrunk to tiny widths, as config files
over the real ``configs/_base_/models`` bases, with random weights saved as a
checkpoint the way the tools read one; and where the real VOC samples are."""
import copy
from pathlib import Path

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / 'configs/_base_/models'
NUM_CLASSES = 5
# A quarter-or-less-width VGG16: (pool3, pool4, fc7) widths are (8, 16, 16).
_VGG = dict(backbone=dict(stage_channels=(4, 8, 8, 16, 16), fc_channels=16,
                          init_cfg=None),
            decode_head=dict(in_channels=(8, 16, 16), num_classes=NUM_CLASSES))
# ResNet-50 at 1/8 width: c2, c3, c4 have 64, 128, 256 channels.
_RESNET = dict(stem_channels=8, base_channels=8)
_JPU = dict(in_channels=(64, 128, 256), mid_channels=8)  # fused: 4 x 8
_FASTFCN_HEAD = dict(in_channels=32, channels=8, num_classes=NUM_CLASSES)
_ENC_HEAD = dict(in_channels=[64, 128, 32], channels=8, num_codes=4,
                 num_classes=NUM_CLASSES)

FAMILIES = {
    **{f'fcn{32 >> skips}s_{mode}':
       (f'fcn8s_vgg16{"_caffe" if mode == "caffe" else ""}.py',
        dict(_VGG, decode_head=dict(_VGG['decode_head'], num_skips=skips)))
       for mode in ('modern', 'caffe') for skips in (2, 1, 0)},
    **{f'fastfcn_{head}': (f'fastfcn_r50-d32_jpu_{head}.py',
                           dict(backbone=_RESNET, neck=_JPU,
                                decode_head=_ENC_HEAD if head == 'enc'
                                else _FASTFCN_HEAD, auxiliary_head=None))
       for head in ('fcn', 'enc', 'psp')},
    'torchvision_fcn': ('fcn_r50b-d8_torchvision.py',
                        dict(backbone=_RESNET, decode_head=dict(
                            in_channels=256, channels=8,
                            num_classes=NUM_CLASSES), auxiliary_head=None)),
}


def family_config(name: str) -> Config:
    """The tiny config of family ``name``, without pretrained weights."""
    base, overrides = FAMILIES[name]
    cfg = Config.fromfile(MODELS_DIR / base)
    cfg.merge_from_dict(dict(model=copy.deepcopy(overrides)))
    cfg.model.backbone.pop('init_cfg', None)  # the class default: no file
    cfg.default_scope = 'mmseg'
    return cfg


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics everywhere (FCN zero-initialises its
    scoring layers, which would make every logit 0), variance-preserving so
    that logits stay finite through 16+ layers."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(
                module.weight.shape, generator=generator) * (2 / fan_in)**0.5
            if module.bias is not None:
                module.bias.data = 0.1 * torch.randn(
                    module.bias.shape, generator=generator)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean = 0.1 * torch.randn(n, generator=generator)
            module.running_var = 0.5 + torch.rand(n, generator=generator)
            module.weight.data = 0.5 + torch.rand(n, generator=generator)
            module.bias.data = 0.1 * torch.randn(n, generator=generator)
    return model


def build_family(name: str) -> nn.Module:
    """The tiny model of family ``name`` with random weights, eval mode."""
    model = MODELS.build(family_config(name).model)
    return randomise(revert_sync_batchnorm(model)).eval()


def write_family(name: str, folder: Path) -> tuple:
    """(config file, checkpoint file) of family ``name`` in ``folder``."""
    config = folder / f'{name}.py'
    family_config(name).dump(str(config))
    checkpoint = folder / f'{name}.pth'
    torch.save(dict(state_dict=build_family(name).state_dict(),
                    meta=dict(dataset_meta=dict(
                        classes=[f'c{i}' for i in range(NUM_CLASSES)],
                        palette=[[i * 40, 0, 0]
                                 for i in range(NUM_CLASSES)]))),
               checkpoint)
    return config, checkpoint
