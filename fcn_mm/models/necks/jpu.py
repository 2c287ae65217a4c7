"""Joint Pyramid Upsampling (JPU) neck of FastFCN, in the authors' order too.

Follows Wu et al., "FastFCN: Rethinking Dilated Convolution in the Backbone
for Semantic Segmentation" (arXiv:1903.11816, 2019): rather than dilating the
backbone, JPU fuses the stride 8/16/32 features of a plain one into a single
stride-8 map with parallel dilated depthwise-separable convs.

``FastFCNJPU`` is mmseg's ``JPU`` (its layers, its state-dict keys) with one
more option: ``deep_first=True, align_corners=True`` gives the authors' ``JPU``
(wuhuikai/FastFCN, ``encoding/nn/customize.py``), whose checkpoints
``fcn_mm.converters`` loads. Like both, it returns the backbone features with
the last replaced by the fused map: for inputs (c2, c3, c4) the decode head
takes ``in_index=2`` (fused) and an auxiliary head ``in_index=1`` (c3).

Authors' keys -> these keys (each then ends in weight, bias, running_mean...):

    conv3|conv4|conv5.{0,1}   conv_layers.{0|1|2}.0.{conv,bn}
    dilation{k}.0.conv1       dilation_layers.{k-1}.0.depthwise_conv.conv
    dilation{k}.0.bn          dilation_layers.{k-1}.0.depthwise_conv.bn
    dilation{k}.0.pointwise   dilation_layers.{k-1}.0.pointwise_conv.conv
    dilation{k}.1             dilation_layers.{k-1}.0.pointwise_conv.bn
"""
from typing import Optional, Sequence, Tuple

import torch
from mmseg.models.necks import JPU
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class FastFCNJPU(JPU):
    """mmseg's JPU whose projections can be concatenated deepest first.

    Args:
        in_channels (Sequence[int]): Channels of the backbone features,
            highest resolution first. Defaults to (512, 1024, 2048), the c2,
            c3, c4 of a ResNet-50.
        mid_channels (int): Width of each projection and of each branch (the
            authors' ``width``); the fused map has
            ``len(dilations) * mid_channels`` channels. Defaults to 512.
        dilations (Sequence[int]): Dilation of each branch.
            Defaults to (1, 2, 4, 8).
        deep_first (bool): Concatenate the projections deepest first (c4, c3,
            c2) as the authors do, instead of mmseg's (c2, c3, c4).
            Defaults to False.
        align_corners (bool): ``align_corners`` of the bilinear upsampling;
            the authors use True. Defaults to False (mmseg).
        conv_cfg (dict, optional): Config of conv layers. Defaults to None.
        norm_cfg (dict): Config of norm layers. Defaults to dict(type='BN').
        act_cfg (dict): Config of activations. Defaults to dict(type='ReLU').
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 2048),
                 *,
                 mid_channels: int = 512,
                 dilations: Sequence[int] = (1, 2, 4, 8),
                 deep_first: bool = False,
                 align_corners: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        if len(in_channels) < 2 or len(dilations) < 1:
            raise ValueError(
                'FastFCNJPU needs at least 2 in_channels (one per backbone '
                f'stage, e.g. (512, 1024, 2048)) and 1 dilation; got '
                f'in_channels={in_channels}, dilations={dilations}')
        # mmseg's JPU asserts tuples; configs may hold lists.
        super().__init__(
            in_channels=tuple(in_channels), mid_channels=mid_channels,
            dilations=tuple(dilations), align_corners=align_corners,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
            init_cfg=init_cfg)
        self.deep_first = deep_first

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """mmseg's forward, with the order option and an error that says
        which backbone setting to fix."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f'FastFCNJPU expects {len(self.in_channels)} feature maps, '
                f'one per in_channels={self.in_channels}, but got '
                f'{len(inputs)}; make the backbone out_indices select '
                'exactly those stages')
        size = inputs[0].shape[2:]  # (H/8, W/8) for c2
        feats = [conv(x) for conv, x in zip(self.conv_layers, inputs)]
        feats = feats[:1] + [
            resize(f, size=size, mode='bilinear',
                   align_corners=self.align_corners) for f in feats[1:]
        ]  # each (N, mid, H/8, W/8)
        if self.deep_first:
            feats = feats[::-1]
        feat = torch.cat(feats, dim=1)  # (N, levels * mid, H/8, W/8)
        fused = torch.cat([branch(feat) for branch in self.dilation_layers],
                          dim=1)  # (N, len(dilations) * mid, H/8, W/8)
        return (*inputs[:-1], fused)
