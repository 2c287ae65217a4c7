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

from ..models.backbones.vgg import STAGE_DEPTHS
from .common import (ConversionError, Table, apply_table, require_keys,
                     unwrap_state_dict)

__all__ = ['convert_torchvision_vgg16', 'vgg16_layer_shapes']

# torchvision's VGG16 is one nn.Sequential per part: in ``features`` every
# conv is followed by a ReLU and each stage by a max pool, hence the gaps;
# ``classifier`` is fc6, ReLU, Dropout, fc7, ReLU, Dropout, fc8.
TORCHVISION_NAMES = OrderedDict([
    ('features.0', 'conv1_1'), ('features.2', 'conv1_2'),
    ('features.5', 'conv2_1'), ('features.7', 'conv2_2'),
    ('features.10', 'conv3_1'), ('features.12', 'conv3_2'),
    ('features.14', 'conv3_3'),
    ('features.17', 'conv4_1'), ('features.19', 'conv4_2'),
    ('features.21', 'conv4_3'),
    ('features.24', 'conv5_1'), ('features.26', 'conv5_2'),
    ('features.28', 'conv5_3'),
    ('classifier.0', 'fc6'), ('classifier.3', 'fc7'),
])  # yapf: disable
# ImageNet's 1000-way classifier (fc8) has no place in a segmentation net.
DROPPED = {
    'torchvision': ('classifier.6.weight', 'classifier.6.bias'),
    'caffe': ('fc8.weight', 'fc8.bias'),
}
SOURCES = {
    'torchvision': 'torchvision VGG16',
    'caffe': 'VGG16 with Caffe layer names',
}
# fc6 covers pool5 of a 224x224 image, 7x7.
FC6_KERNEL = 7


def vgg16_layer_shapes(*, in_channels: int, stage_channels: Sequence[int],
                       fc_channels: int) -> 'OrderedDict[str, Tuple]':
    """Weight shapes of :class:`FCNVGG16`'s layers, by layer name.

    Args:
        in_channels (int): Input image channels.
        stage_channels (Sequence[int]): Widths of the five conv stages.
        fc_channels (int): Width of fc6 and fc7.

    Returns:
        OrderedDict[str, tuple]: ``conv1_1`` ... ``fc7`` -> (out, in, k, k).
    """
    shapes = OrderedDict()
    cin = in_channels
    for stage, (depth, cout) in enumerate(
            zip(STAGE_DEPTHS, stage_channels), start=1):
        for i in range(1, depth + 1):
            shapes[f'conv{stage}_{i}'] = (cout, cin, 3, 3)
            cin = cout
    shapes['fc6'] = (fc_channels, cin, FC6_KERNEL, FC6_KERNEL)
    shapes['fc7'] = (fc_channels, fc_channels, 1, 1)
    return shapes


def _layout(state_dict: Mapping[str, Tensor]) -> str:
    if 'features.0.weight' in state_dict:
        return 'torchvision'
    if 'conv1_1.weight' in state_dict:
        return 'caffe'
    raise ConversionError(
        'expected an ImageNet VGG16 state dict with torchvision\'s keys '
        "('features.0.weight', ... 'classifier.3.weight') or Caffe's "
        "('conv1_1.weight', ... 'fc7.weight'), found keys such as "
        f'{", ".join(sorted(state_dict)[:3]) or "none"}')


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
    layout = _layout(state_dict)
    source = SOURCES[layout]
    # Source layer name of each FCNVGG16 layer.
    names = ({v: k for k, v in TORCHVISION_NAMES.items()}
             if layout == 'torchvision' else
             {name: name for name in TORCHVISION_NAMES.values()})
    width_layers = [f'conv{stage}_1' for stage in range(1, 6)] + ['fc6']
    require_keys(state_dict, [f'{names[n]}.weight' for n in width_layers],
                 source)
    in_channels = int(state_dict[f'{names["conv1_1"]}.weight'].shape[1])
    stage_channels = [
        int(state_dict[f'{names[n]}.weight'].shape[0])
        for n in width_layers[:5]
    ]
    fc_channels = int(state_dict[f'{names["fc6"]}.weight'].shape[0])
    shapes = vgg16_layer_shapes(
        in_channels=in_channels,
        stage_channels=stage_channels,
        fc_channels=fc_channels)

    table: Table = OrderedDict()
    for name, shape in shapes.items():
        weight = f'{names[name]}.weight'
        source_shape = shape
        # torchvision stores fc6/fc7 as Linear weights over the flattened
        # (C, H, W) map, which is exactly a conv kernel's memory order.
        fully_connected = (layout == 'torchvision' or
                           (weight in state_dict
                            and state_dict[weight].dim() == 2))
        if name in ('fc6', 'fc7') and fully_connected:
            source_shape = (shape[0], shape[1] * shape[2] * shape[3])
        table[weight] = (f'{prefix}{name}.conv.weight', source_shape, shape)
        table[f'{names[name]}.bias'] = (f'{prefix}{name}.conv.bias',
                                        (shape[0], ), (shape[0], ))
    converted = apply_table(
        state_dict, table, source=source, dropped=DROPPED[layout])
    info = dict(
        source=source,
        in_channels=in_channels,
        stage_channels=stage_channels,
        fc_channels=fc_channels,
        dropped=[k for k in DROPPED[layout] if k in state_dict],
        prefix=prefix)
    return converted, info
