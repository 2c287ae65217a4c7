"""torchvision's ``fcn_resnet50`` / ``fcn_resnet101`` weights -> fcn_mm.

torchvision's FCN (``torchvision/models/segmentation/fcn.py``) is its ResNet
with ``replace_stride_with_dilation=[False, True, True]`` under
``backbone.*`` (the ImageNet classifier removed), an FCN head on layer4 under
``classifier.*`` and one on layer3 under ``aux_classifier.*``, each
``Sequential(conv3x3(in, in/4, no bias), BN, ReLU, Dropout, conv1x1)``.
mmseg's ``ResNet`` names its layers as torchvision does and
``ReducedFCNHead`` is the same head, so the table is

    backbone.conv1, bn1, layerN.*   backbone.conv1, bn1, layerN.*
    classifier.{0,1,4}              decode_head.convs.0.{conv,bn}, conv_seg
    aux_classifier.{0,1,4}          auxiliary_head.convs.0.{conv,bn}, conv_seg

``configs/fcn_torchvision/fcn_r{50,101}b-d8_*.py`` build the same network
(see ``configs/_base_/models/fcn_r50b-d8_torchvision.py`` for the dilation
details) and reproduce torchvision's logits with the converted weights.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

from torch import Tensor

from .common import (ConversionError, Table, apply_table, require_keys,
                     unwrap_state_dict)
from .resnet import (EXPANSION, add_conv, add_norm, bottleneck_stages_table,
                     count_blocks, resnet_depth)

__all__ = ['convert_torchvision_fcn']

SOURCE = 'torchvision FCN'
# The matching configs; torchvision's published FCNs have 21 (VOC) classes.
CONFIG = ('configs/fcn_torchvision/fcn_r{depth}b-d8_4xb4-20k_voc12aug'
          '-512x512.py')
CONFIG_DEPTHS = (50, 101)
VOC_NUM_CLASSES = 21
STEM_KERNEL = 7  # torchvision's ResNet stem: one 7x7 conv, stride 2


def _head_rows(table: Table, state_dict: Mapping[str, Tensor], src: str,
               dst: str, in_channels: int, num_classes: int) -> None:
    """torchvision's FCNHead: indices 0 (conv), 1 (BN), 4 (classifier)."""
    mid = in_channels // 4
    add_conv(table, f'{src}.0', f'{dst}.convs.0.conv',
             (mid, in_channels, 3, 3))
    add_norm(table, state_dict, f'{src}.1', f'{dst}.convs.0.bn', mid)
    add_conv(table, f'{src}.4', f'{dst}.conv_seg', (num_classes, mid, 1, 1),
             bias=True)


def _voc_dataset_meta() -> Dict:
    from mmseg.datasets import PascalVOCDataset
    meta = PascalVOCDataset.METAINFO
    return dict(
        classes=list(meta['classes']),
        palette=[list(color) for color in meta['palette']])


def convert_torchvision_fcn(
        checkpoint: Mapping) -> Tuple['OrderedDict[str, Tensor]', Dict]:
    """Convert torchvision ``fcn_resnet50``/``fcn_resnet101`` weights.

    Args:
        checkpoint (Mapping): ``model.state_dict()`` of a torchvision FCN
            (e.g. ``fcn_resnet50_coco-1167a1af.pth``), bare or under
            ``'state_dict'``/``'model_state_dict'``; ``module.`` prefixes are
            dropped. ``aux_classifier`` is optional.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict (``backbone.*``,
        ``decode_head.*``, ``auxiliary_head.*`` if the source has
        ``aux_classifier``) and a description fit for the checkpoint's meta:
        ``source``, ``config`` and ``cfg_options`` (the config that reproduces
        the source, and what to change in it), ``depth``, ``num_classes``,
        ``aux`` and, for 21 classes, VOC's ``dataset_meta``.

    Raises:
        ConversionError: A key is missing or unknown, or a shape does not fit
            the widths read off the source; the message names the key with
            the expected and found shapes.
    """
    state_dict = unwrap_state_dict(checkpoint)
    if 'conv1.weight' in state_dict and 'fc.weight' in state_dict:
        raise ConversionError(
            'conv1.weight and fc.weight found: this is an ImageNet ResNet, '
            'not an FCN; it needs no conversion: set it as model.pretrained '
            '(see configs/_base_/models/fcn_r50b-d8_torchvision.py)')
    require_keys(state_dict, [
        'backbone.conv1.weight', 'backbone.layer1.0.conv1.weight',
        'classifier.4.weight'
    ], SOURCE)
    stem = int(state_dict['backbone.conv1.weight'].shape[0])
    base = int(state_dict['backbone.layer1.0.conv1.weight'].shape[0])
    num_classes = int(state_dict['classifier.4.weight'].shape[0])
    blocks = count_blocks(state_dict, 'backbone.')
    depth = resnet_depth(blocks, SOURCE)

    table: Table = OrderedDict()
    add_conv(table, 'backbone.conv1', 'backbone.conv1',
             (stem, 3, STEM_KERNEL, STEM_KERNEL))
    add_norm(table, state_dict, 'backbone.bn1', 'backbone.bn1', stem)
    table.update(bottleneck_stages_table(
        state_dict, src='backbone.', dst='backbone.', in_channels=stem,
        base_channels=base, blocks=blocks))
    # layer4 and layer3 outputs.
    c4, c3 = EXPANSION * base * 8, EXPANSION * base * 4
    _head_rows(table, state_dict, 'classifier', 'decode_head', c4,
               num_classes)
    aux = 'aux_classifier.0.weight' in state_dict
    if aux:
        _head_rows(table, state_dict, 'aux_classifier', 'auxiliary_head', c3,
                   num_classes)
    converted = apply_table(state_dict, table, source=SOURCE)

    options = []
    if depth not in CONFIG_DEPTHS:
        options.append(f'model.backbone.depth={depth}')
    if num_classes != VOC_NUM_CLASSES:
        options += [f'model.{h}.num_classes={num_classes}'
                    for h in ('decode_head', 'auxiliary_head')]
    if not aux:
        options.append('model.auxiliary_head=None')
    info = dict(
        source=SOURCE,
        config=CONFIG.format(depth=min(depth, CONFIG_DEPTHS[-1])),
        cfg_options=options,
        depth=depth,
        num_classes=num_classes,
        aux=aux)
    if num_classes == VOC_NUM_CLASSES:
        info['dataset_meta'] = _voc_dataset_meta()
    return converted, info
