"""ImageNet VGG16 weights -> an initialisation of :class:`FCNVGG16`.

Follows the "convolutionalization" of Long, Shelhamer and Darrell, "Fully
Convolutional Networks for Semantic Segmentation" (CVPR 2015, Sec. 3.1): the
first fully connected layer of VGG16 (Simonyan and Zisserman, ICLR 2015) is a
7x7 convolution over pool5 and the second a 1x1 convolution, with the same
weights; the 1000-way ImageNet classifier (fc8) is dropped.

Two source layouts are read:

* torchvision's ``vgg16`` (``features.N`` / ``classifier.N``), which is also
  the layout of pytorch-fcn's ``vgg16_from_caffe.pth`` (Caffe weights loaded
  into torchvision's module: they expect BGR input minus the ImageNet mean,
  so use them with the Caffe normalisation of
  ``configs/_base_/models/fcn8s_vgg16_caffe.py``);
* the Caffe prototxt's layer names (``conv1_1.weight`` ... ``fc6.weight``,
  ``fc7.weight``, ``fc8.weight``), with fc6/fc7 stored as matrices or as
  convolutions.

The output keys have no ``backbone.`` prefix: a backbone-level
``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads the file into the
backbone module itself. ``load_from`` loads into the whole segmentor and needs
``prefix='backbone.'``.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Sequence, Tuple

from torch import Tensor

from .common import ConversionError, unwrap_state_dict
from .runner import Rule, convert, read_shape

__all__ = ['convert_torchvision_vgg16', 'vgg16_widths', 'CAFFE_RULES']

# FCNVGG16 names its layers as the prototxt: conv1_1.conv.weight <- conv1_1.
CAFFE_RULES = [(r'(\w+)\.conv\.', r'\1.')]
# torchvision's VGG16 is one nn.Sequential per part: in ``features`` every
# conv is followed by a ReLU and each stage by a max pool, hence the gaps;
# ``classifier`` is fc6, ReLU, Dropout, fc7, ReLU, Dropout, fc8.
TORCHVISION_RULES = [(rf'{name}\.conv\.', f'{index}.') for name, index in (
    ('conv1_1', 'features.0'), ('conv1_2', 'features.2'),
    ('conv2_1', 'features.5'), ('conv2_2', 'features.7'),
    ('conv3_1', 'features.10'), ('conv3_2', 'features.12'),
    ('conv3_3', 'features.14'),
    ('conv4_1', 'features.17'), ('conv4_2', 'features.19'),
    ('conv4_3', 'features.21'),
    ('conv5_1', 'features.24'), ('conv5_2', 'features.26'),
    ('conv5_3', 'features.28'),
    ('fc6', 'classifier.0'), ('fc7', 'classifier.3'))]  # yapf: disable
LAYOUTS = {  # a key only the layout has -> its name, rules and fc8
    'features.0.weight': ('torchvision VGG16', TORCHVISION_RULES,
                          ('classifier.6.weight', 'classifier.6.bias')),
    'conv1_1.weight': ('VGG16 with Caffe layer names', CAFFE_RULES,
                       ('fc8.weight', 'fc8.bias')),
}


def vgg16_widths(state_dict: Mapping[str, Tensor], rules: Sequence[Rule],
                 *, source: str, prefix: str = '') -> Dict:
    """The :class:`FCNVGG16` widths of a source: its arguments
    ``in_channels``, ``stage_channels`` and ``fc_channels``.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights.
        rules (Sequence[Rule]): Where the source keeps FCNVGG16's layers.
        source (str): The source format, for messages.
        prefix (str): Of the backbone's keys in the target. Defaults to ''.
    """
    def width(layer, dim=0):
        key = f'{prefix}{layer}.conv.weight'
        return int(read_shape(state_dict, rules, key, source,
                              ndim=dim + 1)[dim])

    return dict(
        in_channels=width('conv1_1', dim=1),
        stage_channels=[width(f'conv{stage}_1') for stage in range(1, 6)],
        fc_channels=width('fc6'))


def convert_torchvision_vgg16(
        checkpoint: Mapping,
        *,
        prefix: str = '') -> Tuple['OrderedDict[str, Tensor]', Dict]:
    """Convert ImageNet VGG16 weights to :class:`FCNVGG16` keys.

    Args:
        checkpoint (Mapping): A VGG16 state dict in torchvision's or Caffe's
            layout, bare or under ``'state_dict'`` / ``'model_state_dict'``.
        prefix (str): Put before every output key: ``''`` for a backbone
            ``init_cfg`` of type ``Pretrained``, ``'backbone.'`` for
            ``load_from``. Defaults to ''.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict (``conv1_1.conv.
        weight`` ... ``fc7.conv.bias``, fc6 as a (fc, C5, 7, 7) conv and fc7
        as (fc, fc, 1, 1)) and a description of the conversion: ``source``,
        ``in_channels``, ``stage_channels``, ``fc_channels``, ``dropped``,
        ``prefix``; plain values, fit for a checkpoint's meta.

    Raises:
        ConversionError: A key is missing or unknown, or a shape does not fit
            VGG16's layout; the message names the key.
    """
    state_dict = unwrap_state_dict(checkpoint)
    layout = next((k for k in LAYOUTS if k in state_dict), None)
    if layout is None:
        raise ConversionError(
            'expected an ImageNet VGG16 state dict with torchvision\'s keys '
            "('features.0.weight', ... 'classifier.3.weight') or Caffe's "
            "('conv1_1.weight', ... 'fc7.weight'), found keys such as "
            f'{", ".join(sorted(state_dict)[:3]) or "none"}')
    source, rules, fc8 = LAYOUTS[layout]
    widths = vgg16_widths(state_dict, rules, source=source)
    converted = convert(
        state_dict, rules, model=dict(type='FCNVGG16', **widths),
        source=source, target='FCNVGG16', dropped=fc8)
    info = dict(source=source, **widths, prefix=prefix,
                dropped=[k for k in fc8 if k in state_dict])
    return OrderedDict((prefix + k, v) for k, v in converted.items()), info
