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

All four configs are ``configs/_base_/models/fcn8s_vgg16_caffe.py`` with the
head options of :data:`HEAD_OPTIONS`; the weights are checked against that
model.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

from torch import Tensor

from .common import ConversionError, dataset_meta, unwrap_state_dict
from .runner import convert, read_shape, target_model
from .vgg import vgg16_widths

__all__ = ['convert_torchfcn', 'detect_variant', 'VARIANTS', 'CONFIGS']

# FCN8sHead's options for each pytorch-fcn model. FCN8sAtOnce multiplies pool4
# by 0.01 and pool3 by 0.0001 before scoring so that all three streams train
# together from VGG16 (the TPAMI "at-once" net).
HEAD_OPTIONS = OrderedDict([
    ('fcn32s', dict(num_skips=0)),
    ('fcn16s', dict(num_skips=1)),
    ('fcn8s', dict(num_skips=2)),
    ('fcn8s-atonce', dict(num_skips=2, skip_scales=(0.01, 0.0001))),
])
VARIANTS = ('auto', ) + tuple(HEAD_OPTIONS)
CLASS_NAMES = {
    'fcn32s': 'FCN32s',
    'fcn16s': 'FCN16s',
    'fcn8s': 'FCN8s',
    'fcn8s-atonce': 'FCN8sAtOnce'
}
# The config each variant's converted weights are tested with (relative to
# configs/), and the model they all share.
CONFIGS = {
    'fcn32s': 'fcn8s/fcn32s-caffe_vgg16_voc12.py',
    'fcn16s': 'fcn8s/fcn16s-caffe_vgg16_voc12.py',
    'fcn8s': 'fcn8s/fcn8s-caffe_vgg16_voc12.py',
    'fcn8s-atonce': 'fcn8s/fcn8s-atonce-caffe_vgg16_voc12.py',
}
MODEL_CONFIG = '_base_/models/fcn8s_vgg16_caffe.py'
# pytorch-fcn names its layers as FCNVGG16 and FCN8sHead do.
RULES = [(r'backbone\.(\w+)\.conv\.', r'\1.'), (r'decode_head\.', '')]


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
        config, relative to ``configs/``) and ``cfg_options`` (what to change
        in it for a source of other widths), ``num_skips``, ``skip_scales``
        (at-once only), ``num_classes``,
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
    elif HEAD_OPTIONS[variant]['num_skips'] != HEAD_OPTIONS[detected][
            'num_skips']:
        raise ConversionError(
            f'variant {variant!r} was asked for, but the keys are those of '
            f'pytorch-fcn {CLASS_NAMES[detected]}; pass variant '
            f"'{detected}'" + (" or 'fcn8s-atonce'"
                               if detected == 'fcn8s' else '') +
            " or 'auto'")
    source = f'pytorch-fcn {CLASS_NAMES[variant]}'
    widths = vgg16_widths(state_dict, RULES, source=source,
                          prefix='backbone.')
    num_classes = int(read_shape(state_dict, RULES,
                                 'decode_head.score_fr.weight', source)[0])
    stages, fc = widths['stage_channels'], widths['fc_channels']
    values = {f'backbone.{k}': v for k, v in widths.items()}
    values.update({'decode_head.in_channels': [stages[2], stages[3], fc],
                   'decode_head.num_classes': num_classes})
    model, options = target_model(
        MODEL_CONFIG, values,
        preset={f'decode_head.{k}': v
                for k, v in HEAD_OPTIONS[variant].items()})
    converted = convert(state_dict, RULES, model=model, source=source,
                        target=f'configs/{CONFIGS[variant]}')
    return converted, dict(
        source=source, variant=variant, config=CONFIGS[variant],
        cfg_options=options, num_classes=num_classes, **widths,
        **HEAD_OPTIONS[variant],
        **dataset_meta('PascalVOCDataset', num_classes))
