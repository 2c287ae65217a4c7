"""Conversion tables for bottleneck ResNets (He et al., CVPR 2016).

torchvision's ResNet, the FastFCN authors' (PyTorch-Encoding's) ResNet and
mmseg's ``ResNet``/``ResNetV1c`` all name their residual stages the same way:
``layer{1-4}.{block}.conv{1-3}``, ``bn{1-3}`` and, in the first block of a
stage, ``downsample.0`` (1x1 conv) and ``downsample.1`` (norm). Only the stems
and the prefixes differ, so the converters of whole models build the stage
rows here and add their own stem and head rows.
"""
from collections import OrderedDict
from typing import Mapping, Tuple

from torch import Tensor

from .common import ConversionError, Shape, Table

__all__ = [
    'BOTTLENECK_DEPTHS', 'add_conv', 'add_norm', 'count_blocks',
    'resnet_depth', 'bottleneck_stages_table'
]

# Blocks per stage -> depth, for the depths mmseg's ResNet builds.
BOTTLENECK_DEPTHS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
EXPANSION = 4  # a bottleneck's output is 4x its width


def add_conv(table: Table, src: str, dst: str, shape: Shape, *,
             bias: bool = False) -> None:
    """Add the rows of a conv (or linear) layer: ``weight`` and ``bias``.

    Args:
        table (Table): The table to extend.
        src (str): The layer's name in the source, without ``.weight``.
        dst (str): Its name in fcn_mm.
        shape (Shape): Its weight's shape, the same in both.
        bias (bool): Whether it has a bias. Defaults to False.
    """
    table[f'{src}.weight'] = (f'{dst}.weight', shape, shape)
    if bias:
        table[f'{src}.bias'] = (f'{dst}.bias', shape[:1], shape[:1])


def add_norm(table: Table, state_dict: Mapping[str, Tensor], src: str,
             dst: str, channels: int) -> None:
    """Add the rows of a batch norm layer.

    ``num_batches_tracked`` is converted where the source has it: torch
    before 0.4.1 did not write it, and it is only read with ``momentum=None``.

    Args:
        table (Table): The table to extend.
        state_dict (Mapping[str, Tensor]): The source weights.
        src (str): The layer's name in the source.
        dst (str): Its name in fcn_mm.
        channels (int): Its number of channels.
    """
    for name in ('weight', 'bias', 'running_mean', 'running_var'):
        table[f'{src}.{name}'] = (f'{dst}.{name}', (channels, ), (channels, ))
    if f'{src}.num_batches_tracked' in state_dict:
        table[f'{src}.num_batches_tracked'] = (f'{dst}.num_batches_tracked',
                                               (), ())


def count_blocks(state_dict: Mapping[str, Tensor],
                 prefix: str) -> Tuple[int, ...]:
    """Blocks in each of the four stages of a ResNet's keys.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights.
        prefix (str): What precedes ``layer1`` in the keys.

    Returns:
        tuple[int]: One count per stage; 0 where a stage has no keys.
    """
    counts = []
    for stage in range(1, 5):
        block = 0
        while f'{prefix}layer{stage}.{block}.conv1.weight' in state_dict:
            block += 1
        counts.append(block)
    return tuple(counts)


def resnet_depth(blocks: Tuple[int, ...], source: str) -> int:
    """The depth of a bottleneck ResNet with ``blocks`` per stage.

    Args:
        blocks (tuple[int]): What :func:`count_blocks` returned.
        source (str): The source format, for the message.

    Returns:
        int: 50, 101 or 152.

    Raises:
        ConversionError: The counts are not those of a depth mmseg builds.
    """
    if blocks not in BOTTLENECK_DEPTHS:
        known = ', '.join(f'{d}: {b}' for b, d in BOTTLENECK_DEPTHS.items())
        raise ConversionError(
            f'the {source} backbone has {blocks} blocks in layer1-4 (counted '
            f'from the layerN.M.conv1.weight keys); expected those of a '
            f'bottleneck ResNet ({known}): the checkpoint is incomplete or '
            'not a ResNet-50/101/152')
    return BOTTLENECK_DEPTHS[blocks]


def bottleneck_stages_table(state_dict: Mapping[str, Tensor], *, src: str,
                            dst: str, in_channels: int, base_channels: int,
                            blocks: Tuple[int, ...]) -> Table:
    """Rows of ``layer1``-``layer4``, with the shapes the widths imply.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights (read only for
            the optional ``num_batches_tracked``).
        src (str): Prefix of the stages in the source (``'pretrained.'``).
        dst (str): Prefix in fcn_mm (``'backbone.'``).
        in_channels (int): Channels the stem gives layer1.
        base_channels (int): Width of layer1's 3x3 convs (64 in every
            published ResNet); stage ``i`` has ``base_channels * 2**i``.
        blocks (tuple[int]): Blocks per stage.

    Returns:
        Table: source key -> (target key, shape, shape).
    """
    table: Table = OrderedDict()
    inplanes = in_channels
    for stage, num_blocks in enumerate(blocks):
        planes = base_channels * 2**stage
        for block in range(num_blocks):
            name = f'layer{stage + 1}.{block}'
            s, d = f'{src}{name}', f'{dst}{name}'
            widths = [(inplanes, planes, 1), (planes, planes, 3),
                      (planes, EXPANSION * planes, 1)]
            for i, (cin, cout, k) in enumerate(widths, start=1):
                add_conv(table, f'{s}.conv{i}', f'{d}.conv{i}',
                         (cout, cin, k, k))
                add_norm(table, state_dict, f'{s}.bn{i}', f'{d}.bn{i}', cout)
            if block == 0:  # every stage's first block changes width or stride
                add_conv(table, f'{s}.downsample.0', f'{d}.downsample.0',
                         (EXPANSION * planes, inplanes, 1, 1))
                add_norm(table, state_dict, f'{s}.downsample.1',
                         f'{d}.downsample.1', EXPANSION * planes)
            inplanes = EXPANSION * planes
    return table
