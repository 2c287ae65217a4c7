"""Joint Pyramid Upsampling (JPU) necks of FastFCN.

Follows Wu et al., "FastFCN: Rethinking Dilated Convolution in the Backbone
for Semantic Segmentation" (arXiv:1903.11816, 2019): rather than dilating the
backbone, JPU fuses the stride 8/16/32 features of a plain one into a single
stride-8 map with parallel dilated depthwise-separable convs.

``FastFCNJPU`` keeps the state-dict keys of mmseg's ``JPU`` and, with its
default options, gives mmseg's output exactly; ``deep_first=True,
align_corners=True`` gives the authors' ``JPU`` (wuhuikai/FastFCN,
``encoding/nn/customize.py``). ``FastFCNJPUX`` is the authors' ``JPU_X``.
Both return the backbone features with the last replaced by the fused map, as
mmseg's and the authors' JPU do: for inputs (c2, c3, c4) the decode head takes
``in_index=2`` (fused) and an auxiliary head ``in_index=1`` (c3).

Authors' keys -> these keys (each then ends in weight, bias, running_mean...):

    JPU    conv3|conv4|conv5.{0,1}  conv_layers.{0|1|2}.0.{conv,bn}
           dilation{k}.0.conv1      dilation_layers.{k-1}.0.depthwise_conv.conv
           dilation{k}.0.bn         dilation_layers.{k-1}.0.depthwise_conv.bn
           dilation{k}.0.pointwise  dilation_layers.{k-1}.0.pointwise_conv.conv
           dilation{k}.1            dilation_layers.{k-1}.0.pointwise_conv.bn
    JPU_X  jum_{j}.conv_l|conv_h.{0,1}  jum_{j}.conv_l|conv_h.{conv,bn}
           jum_{j}.dilation{k}.*    as for JPU, without the ``.0`` after
                                    ``{k-1}`` and with ``gn`` for ``bn``
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.models.utils import resize
from mmseg.registry import MODELS


def _separable_branch(in_channels: int, out_channels: int, dilation: int,
                      norm_cfg: dict, act_cfg: dict,
                      conv_cfg: Optional[dict]) -> nn.Module:
    """Dilated 3x3 depthwise conv, norm, 1x1 pointwise conv, norm, act."""
    return DepthwiseSeparableConvModule(
        in_channels, out_channels, kernel_size=3, padding=dilation,
        dilation=dilation, conv_cfg=conv_cfg, dw_norm_cfg=norm_cfg,
        dw_act_cfg=None, pw_norm_cfg=norm_cfg, pw_act_cfg=act_cfg)


def _check_inputs(neck: nn.Module, inputs: Sequence[Tensor],
                  expected: int) -> None:
    """Raise if the backbone gave a different number of features."""
    if len(inputs) != expected:
        raise ValueError(
            f'{type(neck).__name__} expects {expected} feature maps, one per '
            f'in_channels={neck.in_channels}, but got {len(inputs)}; make '
            'the backbone out_indices select exactly those stages')


@MODELS.register_module()
class FastFCNJPU(BaseModule):
    """JPU: project, upsample, concatenate, then dilated separable branches.

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
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) < 2 or len(dilations) < 1:
            raise ValueError(
                'FastFCNJPU needs at least 2 in_channels (one per backbone '
                f'stage, e.g. (512, 1024, 2048)) and 1 dilation; got '
                f'in_channels={in_channels}, dilations={dilations}')
        self.in_channels = tuple(in_channels)
        self.dilations = tuple(dilations)
        self.deep_first = deep_first
        self.align_corners = align_corners
        # One-module Sequentials keep mmseg's keys (conv_layers.0.0.conv...).
        self.conv_layers = nn.ModuleList(
            nn.Sequential(
                ConvModule(c, mid_channels, 3, padding=1, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg, act_cfg=act_cfg))
            for c in self.in_channels)
        self.dilation_layers = nn.ModuleList(
            nn.Sequential(
                _separable_branch(
                    len(self.in_channels) * mid_channels, mid_channels, d,
                    norm_cfg, act_cfg, conv_cfg)) for d in self.dilations)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse the features; return them with the last one replaced."""
        _check_inputs(self, inputs, len(self.in_channels))
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


class JointUpsampling(BaseModule):
    """One joint upsampling module of JPU_X (the authors' ``JUM``).

    The low-resolution input is projected and upsampled to the size of the
    projected high-resolution input; dilated separable branches read both
    concatenated (low first), and the output is the upsampled projection
    followed by the branches: ``(1 + len(dilations)) * width`` channels.

    Args:
        low_channels (int): Channels of the low-resolution input.
        high_channels (int): Channels of the high-resolution input.
        width (int): Width of the projections and of each branch.
        dilations (Sequence[int]): Dilation of each branch.
        align_corners (bool): ``align_corners`` of the upsampling.
        conv_cfg (dict, optional): Config of conv layers.
        norm_cfg (dict): Norm config of the two projections.
        branch_norm_cfg (dict): Norm config inside the branches.
        act_cfg (dict): Config of activations.
    """

    def __init__(self, low_channels: int, high_channels: int, *, width: int,
                 dilations: Sequence[int], align_corners: bool,
                 conv_cfg: Optional[dict], norm_cfg: dict,
                 branch_norm_cfg: dict, act_cfg: dict) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.conv_l = ConvModule(low_channels, width, 3, padding=1,
                                 conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        self.conv_h = ConvModule(high_channels, width, 3, padding=1,
                                 conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        self.dilation_layers = nn.ModuleList(
            _separable_branch(2 * width, width, d, branch_norm_cfg, act_cfg,
                              conv_cfg) for d in dilations)

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        """Upsample ``low`` guided by ``high``."""
        high = self.conv_h(high)  # (N, width, H, W)
        low = resize(self.conv_l(low), size=high.shape[2:], mode='bilinear',
                     align_corners=self.align_corners)  # (N, width, H, W)
        feat = torch.cat([low, high], dim=1)  # (N, 2 * width, H, W)
        return torch.cat([low] + [b(feat) for b in self.dilation_layers],
                         dim=1)  # (N, (1 + len(dilations)) * width, H, W)


@MODELS.register_module()
class FastFCNJPUX(BaseModule):
    """JPU_X: two chained joint upsampling modules, as the authors' code has.

    ``jum_1`` upsamples c3 to c2's size at half width; ``jum_2`` upsamples c4
    onto that result at full width. The authors added it to their code in
    2020 as "a pyramid version of JPU"; it is not in the paper nor in mmseg,
    so it defaults to the authors' ``align_corners=True``.

    Args:
        in_channels (Sequence[int]): Channels of (c2, c3, c4).
            Defaults to (512, 1024, 2048).
        mid_channels (int): Width of ``jum_2`` (``jum_1`` has half); the fused
            map has ``(1 + len(dilations[1])) * mid_channels`` channels.
            Defaults to 512.
        dilations (Sequence[Sequence[int]]): Branch dilations of ``jum_1``
            and ``jum_2``: d, 2d, 4d with d = 1, 2. Defaults to
            ((1, 2, 4), (2, 4, 8)).
        align_corners (bool): ``align_corners`` of the upsampling.
            Defaults to True.
        conv_cfg (dict, optional): Config of conv layers. Defaults to None.
        norm_cfg (dict): Norm config of the projections.
            Defaults to dict(type='BN').
        branch_norm_cfg (dict): Norm config inside the branches.
            Defaults to dict(type='GN', num_groups=32).
        act_cfg (dict): Config of activations. Defaults to dict(type='ReLU').
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 2048),
                 *,
                 mid_channels: int = 512,
                 dilations: Sequence[Sequence[int]] = ((1, 2, 4), (2, 4, 8)),
                 align_corners: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 branch_norm_cfg: dict = dict(type='GN', num_groups=32),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 3 or len(dilations) != 2 or mid_channels % 2:
            raise ValueError(
                'FastFCNJPUX needs in_channels for (c2, c3, c4), two tuples '
                'of dilations and an even mid_channels, e.g. (512, 1024, '
                f'2048), ((1, 2, 4), (2, 4, 8)), 512; got {in_channels}, '
                f'{dilations}, {mid_channels}')
        self.in_channels = tuple(in_channels)
        common = dict(align_corners=align_corners, conv_cfg=conv_cfg,
                      norm_cfg=norm_cfg, branch_norm_cfg=branch_norm_cfg,
                      act_cfg=act_cfg)
        half = mid_channels // 2
        self.jum_1 = JointUpsampling(
            in_channels[1], in_channels[0], width=half,
            dilations=dilations[0], **common)
        self.jum_2 = JointUpsampling(
            in_channels[2], (1 + len(dilations[0])) * half,
            width=mid_channels, dilations=dilations[1], **common)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse (c2, c3, c4); return (c2, c3, fused)."""
        _check_inputs(self, inputs, 3)
        c2, c3, c4 = inputs
        feat = self.jum_1(c3, c2)  # (N, 4 * mid / 2, H/8, W/8) by default
        return c2, c3, self.jum_2(c4, feat)  # fused: (N, 4 * mid, H/8, W/8)
