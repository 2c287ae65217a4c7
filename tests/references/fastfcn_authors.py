"""The FastFCN authors' JPU and its building blocks, in plain torch.

Written from the layout of wuhuikai/FastFCN (``encoding/nn/customize.py``):
the same attribute names, hence the same state-dict keys, as the authors'
checkpoints, and their forward (projections concatenated c4, c3, c2; bilinear
upsampling with ``align_corners=True``). fcn_mm's JPU and FastFCN converter
are checked against it.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def up(x, size):
    """The authors' up_kwargs: bilinear, align_corners=True."""
    return F.interpolate(x, size, mode='bilinear', align_corners=True)


def conv_bn_relu(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class Separable(nn.Module):
    """Dilated depthwise 3x3, BN, pointwise 1x1 (``SeparableConv2d``)."""

    def __init__(self, cin, cout, dilation):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=dilation,
                               dilation=dilation, groups=cin, bias=False)
        self.bn = nn.BatchNorm2d(cin)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.bn(self.conv1(x)))


class JPU(nn.Module):
    """conv3/4/5 project c2/c3/c4; dilation1-4 read their concatenation."""

    def __init__(self, in_channels=(512, 1024, 2048), width=512):
        super().__init__()
        self.conv3, self.conv4, self.conv5 = (conv_bn_relu(c, width)
                                              for c in in_channels)
        for k in range(1, 5):
            setattr(self, f'dilation{k}', nn.Sequential(
                Separable(3 * width, width, 2**(k - 1)),
                nn.BatchNorm2d(width), nn.ReLU()))

    def forward(self, c2, c3, c4):
        p2 = self.conv3(c2)
        size = p2.shape[2:]
        feat = torch.cat(
            [up(self.conv5(c4), size), up(self.conv4(c3), size), p2], 1)
        return torch.cat(
            [getattr(self, f'dilation{k}')(feat) for k in range(1, 5)], 1)
