"""pytorch-fcn weights -> fcn_mm's Caffe-exact FCN-32s/16s/8s.

pytorch-fcn (Kentaro Wada, https://github.com/wkentaro/pytorch-fcn) ports the
Caffe reference nets of Long, Shelhamer and Darrell, "Fully Convolutional
Networks for Semantic Segmentation" (CVPR 2015 / TPAMI 2017), and its models
``FCN32s``, ``FCN16s``, ``FCN8s`` and ``FCN8sAtOnce`` name their layers as the
prototxt does, as :class:`FCNVGG16` and :class:`FCN8sHead` do too. Converting
is therefore a table: ``conv1_1.weight`` -> ``backbone.conv1_1.conv.weight``,
``score_fr.weight`` -> ``decode_head.score_fr.weight`` and so on.

The variant is read off the keys (``score_pool3`` means FCN-8s,
``score_pool4`` alone FCN-16s, neither FCN-32s), except that ``FCN8sAtOnce``
has exactly FCN-8s's layers: it differs only in scaling pool4 and pool3 before
scoring them. Its weights must be converted with ``variant='fcn8s-atonce'``
and used with ``configs/fcn8s/fcn8s-atonce-caffe_vgg16_voc12.py``; with the
plain FCN-8s config they give wrong predictions without any error.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

from torch import Tensor

from ..models.decode_heads.fcn8s_head import UPSAMPLE_LAYERS
from .common import (ConversionError, Table, apply_table, require_keys,
                     unwrap_state_dict)
from .vgg import vgg16_layer_shapes

__all__ = ['convert_torchfcn', 'detect_variant', 'VARIANTS', 'CONFIGS']

# FCN8sHead's num_skips for each pytorch-fcn model.
NUM_SKIPS = OrderedDict([('fcn32s', 0), ('fcn16s', 1), ('fcn8s', 2),
                         ('fcn8s-atonce', 2)])
VARIANTS = ('auto', ) + tuple(NUM_SKIPS)
# FCN8sAtOnce multiplies pool4 by 0.01 and pool3 by 0.0001 before scoring so
# that all three streams train together from VGG16 (the TPAMI "at-once" net).
SKIP_SCALES = {'fcn8s-atonce': (0.01, 0.0001)}
CLASS_NAMES = {
    'fcn32s': 'FCN32s',
    'fcn16s': 'FCN16s',
    'fcn8s': 'FCN8s',
    'fcn8s-atonce': 'FCN8sAtOnce'
}
# The config each variant's converted weights are tested with.
CONFIGS = {
    'fcn32s': 'configs/fcn8s/fcn32s-caffe_vgg16_voc12.py',
    'fcn16s': 'configs/fcn8s/fcn16s-caffe_vgg16_voc12.py',
    'fcn8s': 'configs/fcn8s/fcn8s-caffe_vgg16_voc12.py',
    'fcn8s-atonce': 'configs/fcn8s/fcn8s-atonce-caffe_vgg16_voc12.py',
}
# pytorch-fcn's published weights are PASCAL VOC's 20 classes + background.
VOC_NUM_CLASSES = 21


def detect_variant(state_dict: Mapping[str, Tensor]) -> str:
    """The pytorch-fcn model a state dict is from, by its skip layers.

    Args:
        state_dict (Mapping[str, Tensor]): pytorch-fcn weights.

    Returns:
        str: ``'fcn8s'``, ``'fcn16s'`` or ``'fcn32s'``; FCN8sAtOnce weights
        also give ``'fcn8s'``, since the two have the same layers.
    """
    if 'score_pool3.weight' in state_dict:
        return 'fcn8s'
    if 'score_pool4.weight' in state_dict:
        return 'fcn16s'
    return 'fcn32s'


def _voc_dataset_meta() -> dict:
    from mmseg.datasets import PascalVOCDataset
    meta = PascalVOCDataset.METAINFO
    return dict(
        classes=list(meta['classes']),
        palette=[list(color) for color in meta['palette']])


def convert_torchfcn(
        checkpoint: Mapping,
        *,
        variant: str = 'auto') -> Tuple['OrderedDict[str, Tensor]', Dict]:
    """Convert pytorch-fcn FCN weights to fcn_mm keys.

    Args:
        checkpoint (Mapping): A pytorch-fcn state dict, bare (the published
            ``*_from_caffe.pth``) or as its Trainer saves it, under
            ``'model_state_dict'``.
        variant (str): ``'fcn32s'``, ``'fcn16s'``, ``'fcn8s'``,
            ``'fcn8s-atonce'``, or ``'auto'`` to read it off the keys, which
            never gives ``'fcn8s-atonce'``: pass that for ``FCN8sAtOnce``
            weights. Defaults to ``'auto'``.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict
        (``backbone.*`` and ``decode_head.*``) and a description fit for the
        checkpoint's meta: ``source``, ``variant``, ``config`` (the matching
        config), ``num_skips``, ``skip_scales``, ``num_classes``,
        ``in_channels``, ``stage_channels``, ``fc_channels`` and, for 21
        classes, VOC's ``dataset_meta`` (class names and palette).

    Raises:
        ConversionError: The variant is unknown or does not match the keys, a
            key is missing or unknown, or a shape does not fit; the message
            names the key with the expected and found shapes.
    """
    if variant not in VARIANTS:
        raise ConversionError(
            f'variant must be one of {", ".join(VARIANTS)}, got {variant!r}')
    state_dict = unwrap_state_dict(checkpoint)
    detected = detect_variant(state_dict)
    if variant == 'auto':
        variant = detected
    elif NUM_SKIPS[variant] != NUM_SKIPS[detected]:
        raise ConversionError(
            f'variant {variant!r} was asked for, but the keys are those of '
            f'pytorch-fcn {CLASS_NAMES[detected]}; pass variant '
            f"'{detected}'" + (" or 'fcn8s-atonce'"
                               if detected == 'fcn8s' else '') +
            " or 'auto'")
    num_skips = NUM_SKIPS[variant]
    source = f'pytorch-fcn {CLASS_NAMES[variant]}'

    # Widths are read off the first conv of each stage, fc6 and score_fr;
    # every other shape must then agree with them.
    require_keys(state_dict, [f'conv{s}_1.weight' for s in range(1, 6)] +
                 ['fc6.weight', 'score_fr.weight'], 'pytorch-fcn FCN')
    in_channels = int(state_dict['conv1_1.weight'].shape[1])
    stage_channels = [
        int(state_dict[f'conv{s}_1.weight'].shape[0]) for s in range(1, 6)
    ]
    fc_channels = int(state_dict['fc6.weight'].shape[0])
    num_classes = int(state_dict['score_fr.weight'].shape[0])

    table: Table = OrderedDict()
    for name, shape in vgg16_layer_shapes(
            in_channels=in_channels,
            stage_channels=stage_channels,
            fc_channels=fc_channels).items():
        table[f'{name}.weight'] = (f'backbone.{name}.conv.weight', shape,
                                   shape)
        table[f'{name}.bias'] = (f'backbone.{name}.conv.bias', shape[:1],
                                 shape[:1])
    scores = OrderedDict([('score_fr', fc_channels),
                          ('score_pool4', stage_channels[3]),
                          ('score_pool3', stage_channels[2])])
    for name, width in list(scores.items())[:num_skips + 1]:
        shape = (num_classes, width, 1, 1)
        table[f'{name}.weight'] = (f'decode_head.{name}.weight', shape, shape)
        table[f'{name}.bias'] = (f'decode_head.{name}.bias', shape[:1],
                                 shape[:1])
    for name, stride in UPSAMPLE_LAYERS[num_skips]:
        # Bias-free transposed convs with kernels twice their stride.
        shape = (num_classes, num_classes, 2 * stride, 2 * stride)
        table[f'{name}.weight'] = (f'decode_head.{name}.weight', shape, shape)
    converted = apply_table(state_dict, table, source=source)

    info = dict(
        source=source,
        variant=variant,
        config=CONFIGS[variant],
        num_skips=num_skips,
        skip_scales=list(SKIP_SCALES.get(variant, (1.0, 1.0))),
        num_classes=num_classes,
        in_channels=in_channels,
        stage_channels=stage_channels,
        fc_channels=fc_channels)
    if num_classes == VOC_NUM_CLASSES:
        info['dataset_meta'] = _voc_dataset_meta()
    return converted, info
