"""VGG16 as the encoder of FCN-8s/16s/32s.

Follows Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic
Segmentation" (CVPR 2015 / TPAMI 2017): VGG16 with its fully connected layers
cast as convolutions (fc6 a 7x7 conv, fc7 a 1x1 conv), returning pool3, pool4
and fc7 for the skip-fusion head.

Layers are named as in the paper's Caffe prototxt and in pytorch-fcn
(``conv1_1`` ... ``conv5_3``, ``fc6``, ``fc7``) so that converting published
weights is a table of names rather than code; this is why the backbone is not
built on ``mmcv.cnn.VGG``, whose layers are anonymous ``features.N`` entries and
which has no conv fc6/fc7.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS

MODES = ('caffe', 'modern')
# VGG16: number of 3x3 convs in each of the five stages.
STAGE_DEPTHS = (2, 2, 3, 3, 3)
# From-scratch initialisation; ImageNet or converted weights replace it.
DEFAULT_INIT = [
    dict(type='Kaiming', layer='Conv2d'),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
]


@MODELS.register_module()
class FCNVGG16(BaseModule):
    """VGG16 encoder of FCN, in the reference (Caffe-exact) or a modern form.

    *caffe*: conv1_1 is padded by 100 so that the network can take any input
    size and the head can crop its output back to the input; pooling rounds up
    (Caffe's ceil mode); fc6 is unpadded. *modern*: every conv is padded to
    keep its size, fc6 included, and ``norm_cfg`` may add BatchNorm after each
    conv (as the MindSpore FCN8s port does).

    Args:
        mode (str): ``'caffe'`` or ``'modern'``. Defaults to ``'modern'``.
        in_channels (int): Input image channels. Defaults to 3.
        stage_channels (Sequence[int]): Width of the five conv stages.
            Defaults to VGG16's (64, 128, 256, 512, 512).
        fc_channels (int): Width of fc6 and fc7. Defaults to 4096.
        fc6_kernel (int): Kernel size of fc6 (7 turns VGG16's first fully
            connected layer into a conv over the 7x7 pool5 map). Defaults to 7.
        dropout_ratio (float): Dropout after fc6 and fc7. Defaults to 0.5.
        norm_cfg (dict, optional): Norm layer after each conv (modern mode
            only). Defaults to None.
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to Kaiming for convs, ones for norm weights.
    """

    def __init__(self,
                 *,
                 mode: str = 'modern',
                 in_channels: int = 3,
                 stage_channels: Sequence[int] = (64, 128, 256, 512, 512),
                 fc_channels: int = 4096,
                 fc6_kernel: int = 7,
                 dropout_ratio: float = 0.5,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Union[dict, List[dict], None] = DEFAULT_INIT):
        super().__init__(init_cfg=init_cfg)
        if mode not in MODES:
            raise ValueError(f'FCNVGG16 mode must be one of {MODES}, got '
                             f'{mode!r}')
        if len(stage_channels) != len(STAGE_DEPTHS):
            raise ValueError('FCNVGG16 needs one width per VGG16 stage (5), '
                             f'got stage_channels={tuple(stage_channels)}')
        if mode == 'caffe' and norm_cfg is not None:
            raise ValueError('the Caffe-exact FCN has no normalisation layers; '
                             "use mode='modern' with norm_cfg")
        self.mode = mode
        self.stage_channels = tuple(stage_channels)
        self.fc_channels = fc_channels

        def conv(name, cin, cout, kernel, padding):
            self.add_module(
                name,
                ConvModule(cin, cout, kernel, padding=padding,
                           norm_cfg=norm_cfg, act_cfg=dict(type='ReLU')))

        cin = in_channels
        for stage, (depth, cout) in enumerate(
                zip(STAGE_DEPTHS, stage_channels), start=1):
            for i in range(1, depth + 1):
                # Caffe FCN pads conv1_1 by 100 so that even small inputs
                # survive the five poolings and the unpadded 7x7 fc6.
                padding = 100 if (mode == 'caffe' and stage == 1
                                  and i == 1) else 1
                conv(f'conv{stage}_{i}', cin, cout, 3, padding)
                cin = cout
            # Caffe rounds pooled sizes up; keeping that in modern mode makes
            # any input of at least one pixel valid.
            self.add_module(f'pool{stage}',
                            nn.MaxPool2d(2, stride=2, ceil_mode=True))
        fc6_padding = 0 if mode == 'caffe' else fc6_kernel // 2
        conv('fc6', cin, fc_channels, fc6_kernel, fc6_padding)
        self.drop6 = nn.Dropout(dropout_ratio)
        conv('fc7', fc_channels, fc_channels, 1, 0)
        self.drop7 = nn.Dropout(dropout_ratio)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Return (pool3, pool4, fc7): strides 8, 16 and 32."""
        outs = []
        for stage, depth in enumerate(STAGE_DEPTHS, start=1):
            for i in range(1, depth + 1):
                x = getattr(self, f'conv{stage}_{i}')(x)
            x = getattr(self, f'pool{stage}')(x)
            if stage in (3, 4):
                outs.append(x)  # pool3 (N, 256, H/8, W/8), pool4 (N, 512, H/16, W/16)
        x = self.drop6(self.fc6(x))
        x = self.drop7(self.fc7(x))  # (N, 4096, H/32, W/32), less 6 in Caffe mode
        return outs[0], outs[1], x
