"""FCN head whose single 3x3 conv cuts the channels by four.

Follows the ``FCNHead`` of torchvision (``models/segmentation/fcn.py``) and of
the FastFCN authors (wuhuikai/FastFCN ``encoding/models/fcn.py``, from Hang
Zhang's PyTorch-Encoding): conv3x3(in, in/4, no bias), BN, ReLU, dropout 0.1,
conv1x1(in/4, classes). That is mmseg's ``FCNHead`` with ``num_convs=1``,
``concat_input=False`` and ``channels=in_channels // 4``; this class fixes
those, so a config names only ``in_channels``, and keeps mmseg's keys
(``convs.0.conv``, ``convs.0.bn``, ``conv_seg``; torchvision's ``0``, ``1``,
``4``), so mmseg's FastFCN auxiliary heads load unchanged.

The dropout is mmseg's channel-wise ``nn.Dropout2d`` (as the FastFCN authors
use); torchvision's drops single elements. Parameters are the same.
"""
from typing import Optional

from mmseg.models.decode_heads.fcn_head import FCNHead
from mmseg.registry import MODELS

# Set here, so a config that also sets them contradicts what the head is.
_FIXED = ('num_convs', 'kernel_size', 'concat_input')


@MODELS.register_module()
class ReducedFCNHead(FCNHead):
    """FCN head: one 3x3 conv from ``in_channels`` to a quarter, classifier.

    Usable as decode or auxiliary head; all other arguments are those of
    mmseg's ``BaseDecodeHead`` (``num_classes``, ``in_index``,
    ``dropout_ratio`` (default 0.1), ``loss_decode``, ...).

    Args:
        in_channels (int): Channels of the selected input feature.
        channels (int, optional): Width of the 3x3 conv.
            Defaults to ``in_channels // 4``.
        norm_cfg (dict): Config of the norm after the 3x3 conv.
            Defaults to dict(type='BN').
        **kwargs: Passed to ``BaseDecodeHead``.
    """

    def __init__(self,
                 in_channels: int,
                 *,
                 channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='BN'),
                 **kwargs) -> None:
        fixed = sorted(set(_FIXED) & kwargs.keys())
        if fixed:
            raise TypeError(
                f'ReducedFCNHead fixes {fixed} (one 3x3 conv, no input '
                'concat); remove them from the config, or use mmseg FCNHead')
        if not isinstance(in_channels, int) or in_channels < 4:
            raise ValueError(
                'ReducedFCNHead takes one feature map with at least 4 '
                f'channels (in_channels // 4 of them are kept); got '
                f'in_channels={in_channels!r}')
        super().__init__(
            num_convs=1,
            kernel_size=3,
            concat_input=False,
            in_channels=in_channels,
            channels=in_channels // 4 if channels is None else channels,
            norm_cfg=norm_cfg,
            **kwargs)
