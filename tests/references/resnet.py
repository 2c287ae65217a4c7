"""Plain-torch stand-ins for the source models of the ResNet converters.

torchvision's ResNet (``torchvision/models/resnet.py``) and the FastFCN
authors' (``encoding/dilated/resnet.py`` of wuhuikai/FastFCN) share the
bottleneck and its attribute names; they differ in the stem (7x7 conv vs
three 3x3 convs, 64-64-128 wide) and in how they dilate. Written from those
layouts, without torchvision, so the converters are checked against an
independent forward.
"""
import torch
import torch.nn as nn


class Bottleneck(nn.Module):
    """1x1, 3x3 (stride and dilation here), 1x1 x4, identity or downsample."""

    def __init__(self, inplanes, planes, stride=1, dilation=1,
                 downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride,
                               padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ReferenceResNet(nn.Module):
    """A bottleneck ResNet returning (c1, c2, c3, c4).

    Args:
        blocks: blocks per stage, (3, 4, 6, 3) for ResNet-50.
        deep_stem: the FastFCN authors' stem (conv1.0/1/3/4/6 + bn1), else
            torchvision's 7x7 conv1 + bn1.
        dilate: torchvision's ``replace_stride_with_dilation`` for layer2-4:
            a dilated stage has stride 1, its first block the dilation the
            net had before the stage, the others the doubled one.
        with_fc: keep the ImageNet classifier (the authors' checkpoints do).
    """

    def __init__(self, blocks=(3, 4, 6, 3), *, deep_stem=False,
                 dilate=(False, False, False), with_fc=False):
        super().__init__()
        if deep_stem:
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 64, 3, padding=1, bias=False),
                nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 128, 3, padding=1, bias=False))
            self.inplanes = 128
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.inplanes = 64
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.dilation = 1
        self.layer1 = self._make_layer(64, blocks[0])
        self.layer2 = self._make_layer(128, blocks[1], 2, dilate[0])
        self.layer3 = self._make_layer(256, blocks[2], 2, dilate[1])
        self.layer4 = self._make_layer(512, blocks[3], 2, dilate[2])
        if with_fc:
            self.fc = nn.Linear(2048, 1000)

    def _make_layer(self, planes, num_blocks, stride=1, dilate=False):
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride,
                          bias=False), nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, previous_dilation,
                             downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, dilation=self.dilation)
                   for _ in range(1, num_blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        return c1, c2, c3, self.layer4(c3)


def fcn_head(in_channels, num_classes, dropout=nn.Dropout):
    """torchvision's and PyTorch-Encoding's FCNHead: indices 0, 1, 4 hold
    weights."""
    mid = in_channels // 4
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid), nn.ReLU(), dropout(0.1),
        nn.Conv2d(mid, num_classes, 1))


def calibrate(model: nn.Module, x: torch.Tensor, seed: int = 0) -> nn.Module:
    """Give every BN the statistics of ``x`` and random affine weights, and
    every biased layer a random bias, so that activations of ``x`` stay of
    order one through 50 layers and each weight changes the output; then
    ``eval()``. (Statistics of a 2x2 layer4 map of another input would
    blow activations up.)"""
    torch.manual_seed(seed)
    bns = [m for m in model.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, 'bias', None) is not None:
                m.bias.normal_(0, 0.2)
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.momentum = None  # running stats = this batch's
        model.train()(x)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()
