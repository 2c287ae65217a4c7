"""FastFCN authors' checkpoints -> fcn_mm's FastFCN configs.

wuhuikai/FastFCN (Wu et al., "FastFCN: Rethinking Dilated Convolution in the
Backbone for Semantic Segmentation", arXiv:1903.11816; its model code comes
from Hang Zhang's PyTorch-Encoding) saves ``{'epoch', 'state_dict',
'optimizer', 'best_pred'}``; the state dict holds

    pretrained.*  its ResNet: deep stem ``conv1.{0,1,3,4,6}`` + ``bn1``
                  (64-64-128 wide), ``layer1-4`` as torchvision's, and the
                  unused ImageNet ``fc`` (dropped here)
    jpu.*         JPU: ``conv3|4|5`` and ``dilation1-4``
    head.*        FCN head ``conv5.{0,1,4}``; EncNet head ``conv5``,
                  ``encmodule``, ``conv6``; or PSP head ``conv5.{0,1,2,5}``
    auxlayer.*    FCN head on c3 (trained with ``--aux``)

and converts as

    pretrained.conv1.{0,1,3,4,6}, bn1   backbone.stem.{0,1,3,4,6}, stem.7
    pretrained.layerN.*                 backbone.layerN.*
    jpu.*                               neck.*, by the table of
                                        fcn_mm/models/necks/jpu.py
    head.conv5.{0,1,4} (FCN)            decode_head.convs.0.{conv,bn}, conv_seg
    head.conv5.{0,1} (EncNet)           decode_head.bottleneck.{conv,bn}
    head.encmodule.encoding.{0,1}       decode_head.enc_module.encoding_project
    head.encmodule.encoding.{3,4}       decode_head.enc_module.encoding.{0,1}
    head.encmodule.fc.0, selayer        decode_head.enc_module.fc.0, se_layer
    head.conv6.1                        decode_head.conv_seg
    head.conv5.0.conv{k}.{0,1} (PSP)    decode_head.psp_modules.{k-1}.1.*
    head.conv5.{1,2,5}                  decode_head.bottleneck.{conv,bn},
                                        conv_seg
    auxlayer.conv5.{0,1,4}              auxiliary_head.convs.0.{conv,bn},
                                        conv_seg

The target keeps the authors' conventions instead of rewriting the weights
for mmseg's: ``ResNetV1c`` with ``stem_channels=128``, ``FastFCNJPU`` with
``deep_first=True`` (their c4, c3, c2 concat order) and ``align_corners=True``
(their bilinear upsampling everywhere, which no weight permutation can
emulate), heads with ``align_corners=True``. The configs
``configs/fastfcn/fastfcn_r{50,101}-d32_jpu_{fcn,enc,psp}_authors_*.py`` set
exactly that and reproduce the source's logits.

With JPU, the EncNet head's first conv is 1x1 where mmseg's ``EncHead`` has a
3x3 bottleneck: the kernel is zero-padded to 3x3, which with padding 1 gives
the same outputs.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import torch.nn.functional as F
from torch import Tensor

from .common import (ConversionError, Table, apply_table, require_keys,
                     unwrap_state_dict)
from .resnet import (EXPANSION, add_conv, add_norm, bottleneck_stages_table,
                     count_blocks, resnet_depth)

__all__ = ['convert_fastfcn', 'detect_head', 'HEADS']

SOURCE = 'FastFCN (wuhuikai/FastFCN)'
# A key only each head has -> the head's name in fcn_mm's config names.
HEADS = OrderedDict([('head.encmodule.encoding.3.codewords', 'enc'),
                     ('head.conv5.0.conv1.0.weight', 'psp'),
                     ('head.conv5.4.weight', 'fcn')])
HEAD_NAMES = {'fcn': 'FCN', 'enc': 'EncNet', 'psp': 'PSP'}
# The deep stem's three convs, at the same indices in ResNetV1c's ``stem``.
STEM_CONVS = (0, 3, 6)
# The authors' ResNet keeps its ImageNet classifier, which nothing reads.
DROPPED = ('pretrained.fc.weight', 'pretrained.fc.bias')
# ADE20K's classes (the authors' ADE20K models; 150 without "other").
ADE20K_NUM_CLASSES = 150
# The configs that reproduce the authors' models (R-50 and R-101, 150 classes).
CONFIG = ('configs/fastfcn/fastfcn_r{depth}-d32_jpu_{head}'
          '_authors_ade20k-512x512.py')
CONFIG_DEPTHS = (50, 101)


def detect_head(state_dict: Mapping[str, Tensor]) -> str:
    """The decode head of a FastFCN checkpoint: ``'fcn'``, ``'enc'`` or
    ``'psp'``.

    Args:
        state_dict (Mapping[str, Tensor]): The authors' weights.

    Raises:
        ConversionError: None of the supported heads' keys is there, or the
            EncNet head has the lateral connections fcn_mm does not convert.
    """
    if any(k.startswith('head.connect.') for k in state_dict):
        raise ConversionError(
            'head.connect.* found: an EncNet head with lateral connections '
            '(the authors\' --lateral), which is not converted; convert a '
            'model trained without --lateral')
    for key, head in HEADS.items():
        if key in state_dict:
            return head
    found = sorted({'.'.join(k.split('.')[:3])
                    for k in state_dict if k.startswith('head.')})
    raise ConversionError(
        f'no {SOURCE} head found: expected one of the keys {", ".join(HEADS)}'
        f' (FCN, EncNet or PSP head), found head layers {found[:8]}; other '
        'heads (e.g. DeepLabV3) are not converted')


def _deep_stem_rows(table: Table, state_dict: Mapping[str, Tensor],
                    widths: Tuple[int, int, int]) -> None:
    """Three 3x3 convs (the first with stride 2), each followed by a BN
    (the third's is the ResNet's ``bn1``) and a ReLU."""
    cin = 3
    norms = ('pretrained.conv1.1', 'pretrained.conv1.4', 'pretrained.bn1')
    for i, width, norm in zip(STEM_CONVS, widths, norms):
        add_conv(table, f'pretrained.conv1.{i}', f'backbone.stem.{i}',
                 (width, cin, 3, 3))
        add_norm(table, state_dict, norm, f'backbone.stem.{i + 1}', width)
        cin = width


def _fcn_head_rows(table: Table, state_dict: Mapping[str, Tensor], src: str,
                   dst: str, in_channels: int, num_classes: int) -> None:
    """conv3x3(in, in/4, no bias), BN, ReLU, Dropout2d, conv1x1(classes)."""
    mid = in_channels // 4
    add_conv(table, f'{src}.conv5.0', f'{dst}.convs.0.conv',
             (mid, in_channels, 3, 3))
    add_norm(table, state_dict, f'{src}.conv5.1', f'{dst}.convs.0.bn', mid)
    add_conv(table, f'{src}.conv5.4', f'{dst}.conv_seg',
             (num_classes, mid, 1, 1), bias=True)


def _enc_head_rows(table: Table, state_dict: Mapping[str, Tensor],
                   in_channels: int, num_classes: int) -> Dict:
    """EncNet head rows; returns its widths for the description."""
    require_keys(state_dict, ['head.conv5.0.weight'], f'{SOURCE} EncNet head')
    width, _, kernel, _ = state_dict['head.conv5.0.weight'].shape
    num_codes = int(state_dict['head.encmodule.encoding.3.codewords'].shape[0])
    d = 'decode_head'
    add_conv(table, 'head.conv5.0', f'{d}.bottleneck.conv',
             (width, in_channels, kernel, kernel))
    add_norm(table, state_dict, 'head.conv5.1', f'{d}.bottleneck.bn', width)
    add_conv(table, 'head.encmodule.encoding.0',
             f'{d}.enc_module.encoding_project.conv', (width, width, 1, 1))
    add_norm(table, state_dict, 'head.encmodule.encoding.1',
             f'{d}.enc_module.encoding_project.bn', width)
    for name, shape in (('codewords', (num_codes, width)),
                        ('scale', (num_codes, ))):
        table[f'head.encmodule.encoding.3.{name}'] = (
            f'{d}.enc_module.encoding.0.{name}', shape, shape)
    add_norm(table, state_dict, 'head.encmodule.encoding.4',
             f'{d}.enc_module.encoding.1', num_codes)
    add_conv(table, 'head.encmodule.fc.0', f'{d}.enc_module.fc.0',
             (width, width), bias=True)
    se_loss = 'head.encmodule.selayer.weight' in state_dict
    if se_loss:
        add_conv(table, 'head.encmodule.selayer', f'{d}.se_layer',
                 (num_classes, width), bias=True)
    add_conv(table, 'head.conv6.1', f'{d}.conv_seg',
             (num_classes, width, 1, 1), bias=True)
    return dict(channels=int(width), num_codes=num_codes,
                bottleneck_kernel=int(kernel), use_se_loss=se_loss)


def _psp_head_rows(table: Table, state_dict: Mapping[str, Tensor],
                   in_channels: int, num_classes: int) -> None:
    """PyramidPooling (1x1 convs on bins 1, 2, 3, 6), conv3x3, BN, classes."""
    mid = in_channels // 4
    d = 'decode_head'
    for k in range(1, 5):
        add_conv(table, f'head.conv5.0.conv{k}.0',
                 f'{d}.psp_modules.{k - 1}.1.conv', (mid, in_channels, 1, 1))
        add_norm(table, state_dict, f'head.conv5.0.conv{k}.1',
                 f'{d}.psp_modules.{k - 1}.1.bn', mid)
    add_conv(table, 'head.conv5.1', f'{d}.bottleneck.conv',
             (mid, 2 * in_channels, 3, 3))
    add_norm(table, state_dict, 'head.conv5.2', f'{d}.bottleneck.bn', mid)
    add_conv(table, 'head.conv5.5', f'{d}.conv_seg', (num_classes, mid, 1, 1),
             bias=True)


def _jpu_rows(table: Table, state_dict: Mapping[str, Tensor],
              in_channels: Tuple[int, ...], width: int) -> int:
    """JPU rows (FastFCNJPU's key table); returns the fused map's channels."""
    num_branches = 0
    while f'jpu.dilation{num_branches + 1}.0.conv1.weight' in state_dict:
        num_branches += 1
    # conv3, conv4, conv5 project c2, c3, c4.
    for level, channels in enumerate(in_channels):
        src, dst = f'jpu.conv{level + 3}', f'neck.conv_layers.{level}.0'
        add_conv(table, f'{src}.0', f'{dst}.conv', (width, channels, 3, 3))
        add_norm(table, state_dict, f'{src}.1', f'{dst}.bn', width)
    cat = len(in_channels) * width
    for k in range(1, num_branches + 1):
        src, dst = f'jpu.dilation{k}', f'neck.dilation_layers.{k - 1}.0'
        add_conv(table, f'{src}.0.conv1', f'{dst}.depthwise_conv.conv',
                 (cat, 1, 3, 3))
        add_norm(table, state_dict, f'{src}.0.bn', f'{dst}.depthwise_conv.bn',
                 cat)
        add_conv(table, f'{src}.0.pointwise', f'{dst}.pointwise_conv.conv',
                 (width, cat, 1, 1))
        add_norm(table, state_dict, f'{src}.1', f'{dst}.pointwise_conv.bn',
                 width)
    return num_branches * width


def _classes(state_dict: Mapping[str, Tensor], head: str) -> int:
    key = {'fcn': 'head.conv5.4.weight', 'enc': 'head.conv6.1.weight',
           'psp': 'head.conv5.5.weight'}[head]
    require_keys(state_dict, [key], f'{SOURCE} {HEAD_NAMES[head]} head')
    return int(state_dict[key].shape[0])


def _dataset_meta(num_classes: int) -> Dict:
    if num_classes != ADE20K_NUM_CLASSES:
        return {}
    from mmseg.datasets import ADE20KDataset
    meta = ADE20KDataset.METAINFO
    return dict(dataset_meta=dict(
        classes=list(meta['classes']),
        palette=[list(color) for color in meta['palette']]))


def convert_fastfcn(
        checkpoint: Mapping) -> Tuple['OrderedDict[str, Tensor]', Dict]:
    """Convert a FastFCN authors' checkpoint (JPU + FCN/EncNet/PSP head).

    Args:
        checkpoint (Mapping): The authors' training checkpoint (weights under
            ``'state_dict'``) or a bare state dict; ``module.`` prefixes are
            dropped.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict (``backbone.*``,
        ``neck.*``, ``decode_head.*``, ``auxiliary_head.*`` if the source has
        ``auxlayer``) and a description fit for the checkpoint's meta:
        ``source``, ``config`` (the config that reproduces the source) and
        ``cfg_options`` (what to change in it, e.g. ``num_classes`` for a
        PASCAL Context model), ``depth``, ``head``, ``num_classes``,
        ``jpu_width``, ``stem_channels``, ``aux``, the EncNet head's widths,
        and for 150 classes ADE20K's ``dataset_meta``.

    Raises:
        ConversionError: A key is missing or unknown, a shape does not fit
            the widths read off the source (the message names the key, the
            expected and the found shape), the head is not supported, or the
            model has no JPU.
    """
    state_dict = unwrap_state_dict(checkpoint)
    require_keys(state_dict, [
        'pretrained.conv1.0.weight', 'pretrained.conv1.3.weight',
        'pretrained.conv1.6.weight', 'pretrained.layer1.0.conv1.weight'
    ], f'{SOURCE} deep-stem ResNet')
    if 'jpu.conv5.0.weight' not in state_dict:
        raise ConversionError(
            f'no jpu.* keys: this {SOURCE} model has no JPU (a dilated '
            'baseline, or JPU_X, which is not converted); fcn_mm\'s FastFCN '
            'configs read c2, c3, c4 through FastFCNJPU')
    head = detect_head(state_dict)
    num_classes = _classes(state_dict, head)

    # Widths: the stem convs and layer1's first conv; then every other shape
    # follows from them.
    stem = [int(state_dict[f'pretrained.conv1.{i}.weight'].shape[0])
            for i in STEM_CONVS]
    base = int(state_dict['pretrained.layer1.0.conv1.weight'].shape[0])
    blocks = count_blocks(state_dict, 'pretrained.')
    depth = resnet_depth(blocks, SOURCE)
    table: Table = OrderedDict()
    _deep_stem_rows(table, state_dict, stem)
    table.update(bottleneck_stages_table(
        state_dict, src='pretrained.', dst='backbone.', in_channels=stem[-1],
        base_channels=base, blocks=blocks))

    # c2, c3, c4: the outputs of layer2-4.
    in_channels = tuple(EXPANSION * base * 2**s for s in (1, 2, 3))
    jpu_width = int(state_dict['jpu.conv5.0.weight'].shape[0])
    fused = _jpu_rows(table, state_dict, in_channels, jpu_width)
    info = dict(source=SOURCE, head=head, depth=depth,
                num_classes=num_classes, jpu_width=jpu_width,
                stem_channels=stem[-1])
    if head == 'fcn':
        _fcn_head_rows(table, state_dict, 'head', 'decode_head', fused,
                       num_classes)
    elif head == 'enc':
        info.update(_enc_head_rows(table, state_dict, fused, num_classes))
    else:
        _psp_head_rows(table, state_dict, fused, num_classes)
    info['aux'] = 'auxlayer.conv5.0.weight' in state_dict
    if info['aux']:
        _fcn_head_rows(table, state_dict, 'auxlayer', 'auxiliary_head',
                       in_channels[1], num_classes)

    converted = apply_table(
        state_dict, table, source=SOURCE,
        dropped=[k for k in DROPPED if k in state_dict])
    if head == 'enc' and info['bottleneck_kernel'] == 1:
        # mmseg's EncHead bottleneck is 3x3 with padding 1: a 1x1 kernel in
        # the centre of zeros computes the same.
        key = 'decode_head.bottleneck.conv.weight'
        converted[key] = F.pad(converted[key], (1, 1, 1, 1))
    # The matching config, and what to change in it where none matches.
    info['config'] = CONFIG.format(depth=min(depth, CONFIG_DEPTHS[-1]),
                                   head=head)
    options = []
    if depth not in CONFIG_DEPTHS:
        options.append(f'model.backbone.depth={depth}')
    if num_classes != ADE20K_NUM_CLASSES:
        options += [f'model.{h}.num_classes={num_classes}'
                    for h in ('decode_head', 'auxiliary_head')]
    if head == 'enc' and not info['use_se_loss']:
        options.append('model.decode_head.use_se_loss=False')
    if not info['aux']:
        options.append('model.auxiliary_head=None')
    info['cfg_options'] = options
    info.update(_dataset_meta(num_classes))
    return converted, info
