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

from .common import ConversionError, dataset_meta, unwrap_state_dict
from .resnet import fcn_head_rules, head_values, resnet_depth
from .runner import convert, read_shape, target_model

__all__ = ['convert_torchvision_fcn']

SOURCE = 'torchvision FCN'
# The matching configs, relative to configs/; torchvision's published FCNs
# have 21 (VOC) classes.
CONFIG = 'fcn_torchvision/fcn_r{depth}b-d8_4xb4-20k_voc12aug-512x512.py'
# mmseg's ResNet names its layers as torchvision's.
RULES = [(r'backbone\.', 'backbone.')] + fcn_head_rules(
    'decode_head', 'classifier') + fcn_head_rules('auxiliary_head',
                                                  'aux_classifier')


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
        ``source``, ``config`` (relative to ``configs/``) and ``cfg_options``
        (the config that reproduces the source, and what to change in it),
        ``depth``, ``num_classes``, ``aux`` and, for 21 classes, VOC's
        ``dataset_meta``.

    Raises:
        ConversionError: A key is missing or unknown, or a shape does not fit
            the model of the config; the message names the key with the
            expected and found shapes.
    """
    state_dict = unwrap_state_dict(checkpoint)
    if 'conv1.weight' in state_dict and 'fc.weight' in state_dict:
        raise ConversionError(
            'conv1.weight and fc.weight found: this is an ImageNet ResNet, '
            'not an FCN; it needs no conversion: set it as the backbone\'s '
            'init weights, model.backbone.init_cfg.checkpoint (see '
            'configs/_base_/models/fcn_r50b-d8_torchvision.py)')
    read_shape(state_dict, RULES, 'backbone.conv1.weight', SOURCE)
    depth = resnet_depth(state_dict, 'backbone.', SOURCE)
    num_classes = int(read_shape(state_dict, RULES,
                                 'decode_head.conv_seg.weight', SOURCE)[0])
    aux = 'aux_classifier.0.weight' in state_dict
    values, config_depth = head_values(depth=depth, num_classes=num_classes,
                                       aux=aux)
    config = CONFIG.format(depth=config_depth)
    model, options = target_model(config, values)
    converted = convert(state_dict, RULES, model=model, source=SOURCE,
                        target=f'configs/{config}')
    return converted, dict(
        source=SOURCE, config=config, cfg_options=options, depth=depth,
        num_classes=num_classes, aux=aux,
        **dataset_meta('PascalVOCDataset', num_classes))
