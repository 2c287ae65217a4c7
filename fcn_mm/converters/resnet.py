"""What the converters of ResNet segmentation nets share.

torchvision's ResNet, the FastFCN authors' (PyTorch-Encoding's) ResNet and
mmseg's ``ResNet``/``ResNetV1c`` all name their residual stages the same way
(``layer{1-4}.{block}.conv{1-3}``, ``bn{1-3}``, ``downsample.{0,1}``), and
torchvision's and PyTorch-Encoding's ``FCNHead`` are the same
``Sequential(conv3x3, BN, ReLU, Dropout, conv1x1)`` as fcn_mm's
``ReducedFCNHead``. A converter reads the depth off the source's block counts
to choose a config; the model of that config gives every shape.
"""
from typing import Any, Dict, List, Mapping, Tuple

from torch import Tensor

from .common import ConversionError
from .runner import Rule

__all__ = [
    'BOTTLENECK_DEPTHS', 'fcn_head_rules', 'head_values', 'resnet_depth'
]

# Blocks per stage -> depth, for the depths mmseg's ResNet builds.
BOTTLENECK_DEPTHS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


def fcn_head_rules(target: str, source: str) -> List[Rule]:
    """Rules of an FCN head: ``target`` (``'decode_head'``) is read from the
    ``Sequential`` at ``source``, whose indices 0, 1 and 4 hold weights."""
    return [(rf'{target}\.convs\.0\.conv\.', f'{source}.0.'),
            (rf'{target}\.convs\.0\.bn\.', f'{source}.1.'),
            (rf'{target}\.conv_seg\.', f'{source}.4.')]


def resnet_depth(state_dict: Mapping[str, Tensor], prefix: str,
                 source: str) -> int:
    """The depth of the bottleneck ResNet whose stages are under ``prefix``.

    Args:
        state_dict (Mapping[str, Tensor]): The source weights.
        prefix (str): What precedes ``layer1`` in the keys.
        source (str): The source format, for the message.

    Returns:
        int: 50, 101 or 152.

    Raises:
        ConversionError: The block counts are not those of a depth mmseg
            builds.
    """
    blocks = []
    for stage in range(1, 5):
        count = 0
        while f'{prefix}layer{stage}.{count}.conv1.weight' in state_dict:
            count += 1
        blocks.append(count)
    blocks = tuple(blocks)
    if blocks not in BOTTLENECK_DEPTHS:
        known = ', '.join(f'{d}: {b}' for b, d in BOTTLENECK_DEPTHS.items())
        raise ConversionError(
            f'the {source} backbone has {blocks} blocks in layer1-4 (counted '
            f'from the layerN.M.conv1.weight keys); expected those of a '
            f'bottleneck ResNet ({known}): the checkpoint is incomplete or '
            'not a ResNet-50/101/152')
    return BOTTLENECK_DEPTHS[blocks]


def head_values(*, depth: int, num_classes: int,
                aux: bool) -> Tuple[Dict[str, Any], int]:
    """Model settings a ResNet net's source fixes, for :func:`target_model`,
    and the depth of the config to start from (R-50 or R-101).

    Args:
        depth (int): The backbone's depth.
        num_classes (int): Classes of the decode head (and auxiliary head).
        aux (bool): Whether the source has an auxiliary head.
    """
    values = {'backbone.depth': depth, 'decode_head.num_classes': num_classes}
    values.update({'auxiliary_head.num_classes': num_classes} if aux else
                  {'auxiliary_head': None})
    return values, min(depth, 101)
