"""FastFCN authors' checkpoints -> fcn_mm's FastFCN configs.

wuhuikai/FastFCN (Wu et al., "FastFCN: Rethinking Dilated Convolution in the
Backbone for Semantic Segmentation", arXiv:1903.11816; its model code comes
from Hang Zhang's PyTorch-Encoding) saves ``{'epoch', 'state_dict',
'optimizer', 'best_pred'}``; the state dict holds

    pretrained.*  its ResNet: deep stem ``conv1.{0,1,3,4,6}`` + ``bn1``
                  (64-64-128 wide), ``layer1-4`` as torchvision's, and the
                  unused ImageNet ``fc`` (dropped here)
    jpu.*         JPU: ``conv3|4|5`` and ``dilation1-4``
    head.*        FCN head ``conv5.{0,1,4}``; EncNet head ``conv5``,
                  ``encmodule``, ``conv6``; or PSP head ``conv5.{0,1,2,5}``
    auxlayer.*    FCN head on c3 (trained with ``--aux``)

and converts by the name tables below: ``pretrained.*`` into ResNetV1c's
``backbone.*`` (the deep stem's ``conv1.{0,1,3,4,6}`` and ``bn1`` into
``stem.{0,1,3,4,6,7}``), ``jpu.*`` into ``neck.*`` and the heads into mmseg's
``ReducedFCNHead``/``EncHead``/``PSPHead``.

The target keeps the authors' conventions instead of rewriting the weights
for mmseg's: ``ResNetV1c`` with ``stem_channels=128``, ``FastFCNJPU`` with
``deep_first=True`` (their c4, c3, c2 concat order) and ``align_corners=True``
(their bilinear upsampling everywhere, which no weight permutation can
emulate), heads with ``align_corners=True``. The configs
``configs/fastfcn/fastfcn_r{50,101}-d32_jpu_{fcn,enc,psp}_authors_*.py`` set
exactly that and reproduce the source's logits.

With JPU, the EncNet head's first conv is 1x1 where mmseg's ``EncHead`` has a
3x3 bottleneck: the kernel is zero-padded to 3x3, which with padding 1 gives
the same outputs.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import torch.nn.functional as F
from torch import Tensor

from .common import ConversionError, dataset_meta, unwrap_state_dict
from .resnet import fcn_head_rules, head_values, resnet_depth
from .runner import convert, read_shape, shifted, target_model

__all__ = ['convert_fastfcn', 'detect_head', 'HEADS']

SOURCE = 'FastFCN (wuhuikai/FastFCN)'
BACKBONE_RULES = [
    (r'backbone\.stem\.7\.', 'pretrained.bn1.'),  # the deep stem's last BN
    (r'backbone\.stem\.', 'pretrained.conv1.'),
    (r'backbone\.', 'pretrained.'),
]
# The authors' conv3, conv4, conv5 project c2, c3, c4; dilation1-4 are the
# branches.
JPU_RULES = [
    (r'neck\.conv_layers\.(\d+)\.0\.conv\.', shifted('jpu.conv{}.0.', 3)),
    (r'neck\.conv_layers\.(\d+)\.0\.bn\.', shifted('jpu.conv{}.1.', 3)),
] + [(rf'neck\.dilation_layers\.(\d+)\.0\.{layer}\.',
      shifted(f'jpu.dilation{{}}.{source}.', 1))
     for layer, source in (('depthwise_conv.conv', '0.conv1'),
                           ('depthwise_conv.bn', '0.bn'),
                           ('pointwise_conv.conv', '0.pointwise'),
                           ('pointwise_conv.bn', '1'))]
HEAD_RULES = {
    'fcn': fcn_head_rules('decode_head', 'head.conv5'),
    'enc': [(rf'decode_head\.{target}\.', f'head.{source}.')
            for target, source in (
                ('bottleneck.conv', 'conv5.0'), ('bottleneck.bn', 'conv5.1'),
                ('enc_module.encoding_project.conv', 'encmodule.encoding.0'),
                ('enc_module.encoding_project.bn', 'encmodule.encoding.1'),
                ('enc_module.encoding.0', 'encmodule.encoding.3'),
                ('enc_module.encoding.1', 'encmodule.encoding.4'),
                ('enc_module.fc', 'encmodule.fc'),
                ('se_layer', 'encmodule.selayer'), ('conv_seg', 'conv6.1'))],
    'psp': [(r'decode_head\.psp_modules\.(\d+)\.1\.conv\.',
             shifted('head.conv5.0.conv{}.0.', 1)),
            (r'decode_head\.psp_modules\.(\d+)\.1\.bn\.',
             shifted('head.conv5.0.conv{}.1.', 1))] + [
                 (rf'decode_head\.{target}\.', f'head.conv5.{index}.')
                 for target, index in (('bottleneck.conv', 1),
                                       ('bottleneck.bn', 2),
                                       ('conv_seg', 5))],
}
AUX_RULES = fcn_head_rules('auxiliary_head', 'auxlayer.conv5')
# A key only each head has -> the head's name in fcn_mm's config names.
HEADS = OrderedDict([('head.encmodule.encoding.3.codewords', 'enc'),
                     ('head.conv5.0.conv1.0.weight', 'psp'),
                     ('head.conv5.4.weight', 'fcn')])
# The authors' ResNet keeps its ImageNet classifier, which nothing reads.
DROPPED = ('pretrained.fc.weight', 'pretrained.fc.bias')
# The configs that reproduce the authors' models, relative to configs/.
CONFIG = 'fastfcn/fastfcn_r{depth}-d32_jpu_{head}_authors_ade20k-512x512.py'
ENC_BOTTLENECK = 'head.conv5.0.weight'


def detect_head(state_dict: Mapping[str, Tensor]) -> str:
    """The decode head of a FastFCN checkpoint: ``'fcn'``, ``'enc'`` or
    ``'psp'``.

    Args:
        state_dict (Mapping[str, Tensor]): The authors' weights.

    Raises:
        ConversionError: None of the supported heads' keys is there, or the
            EncNet head has the lateral connections fcn_mm does not convert.
    """
    if any(k.startswith('head.connect.') for k in state_dict):
        raise ConversionError(
            'head.connect.* found: an EncNet head with lateral connections '
            '(the authors\' --lateral), which is not converted; convert a '
            'model trained without --lateral')
    for key, head in HEADS.items():
        if key in state_dict:
            return head
    found = sorted({'.'.join(k.split('.')[:3])
                    for k in state_dict if k.startswith('head.')})
    raise ConversionError(
        f'no {SOURCE} head found: expected one of the keys {", ".join(HEADS)}'
        f' (FCN, EncNet or PSP head), found head layers {found[:8]}; other '
        'heads (e.g. DeepLabV3) are not converted')


def convert_fastfcn(
        checkpoint: Mapping) -> Tuple['OrderedDict[str, Tensor]', Dict]:
    """Convert a FastFCN authors' checkpoint (JPU + FCN/EncNet/PSP head).

    Args:
        checkpoint (Mapping): The authors' training checkpoint (weights under
            ``'state_dict'``) or a bare state dict; ``module.`` prefixes are
            dropped.

    Returns:
        tuple[OrderedDict, dict]: The converted state dict (``backbone.*``,
        ``neck.*``, ``decode_head.*``, ``auxiliary_head.*`` if the source has
        ``auxlayer``) and a description fit for the checkpoint's meta:
        ``source``, ``config`` (the config that reproduces the source,
        relative to ``configs/``) and ``cfg_options`` (what to change in it,
        e.g. ``num_classes`` for a PASCAL Context model), ``depth``, ``head``,
        ``num_classes``, ``aux``, for EncNet ``use_se_loss`` and
        ``bottleneck_kernel``, ``dropped`` (the ImageNet classifier's keys)
        and for 150 classes ADE20K's ``dataset_meta``.

    Raises:
        ConversionError: A key is missing or unknown, a shape does not fit
            the model of the config (the message names the key, the expected
            and the found shape), the head is not supported, or the model has
            no JPU.
    """
    state_dict = unwrap_state_dict(checkpoint)
    read_shape(state_dict, BACKBONE_RULES, 'backbone.stem.0.weight',
               f'{SOURCE} deep-stem ResNet')
    depth = resnet_depth(state_dict, 'pretrained.', SOURCE)
    if not any(key.startswith('jpu.') for key in state_dict):
        raise ConversionError(
            f'no jpu.* keys: this {SOURCE} model has no JPU (a dilated '
            'baseline); fcn_mm\'s FastFCN configs read c2, c3, c4 through '
            'FastFCNJPU: convert a model trained with --jpu JPU')
    head = detect_head(state_dict)
    rules = BACKBONE_RULES + JPU_RULES + HEAD_RULES[head] + AUX_RULES
    num_classes = int(read_shape(state_dict, rules,
                                 'decode_head.conv_seg.weight', SOURCE)[0])
    info = dict(source=SOURCE, head=head, depth=depth,
                num_classes=num_classes,
                aux='auxlayer.conv5.0.weight' in state_dict)
    values, config_depth = head_values(depth=depth, num_classes=num_classes,
                                       aux=info['aux'])
    if head == 'enc':
        info['use_se_loss'] = 'head.encmodule.selayer.weight' in state_dict
        values['decode_head.use_se_loss'] = info['use_se_loss']
        info['bottleneck_kernel'] = int(read_shape(
            state_dict, rules, 'decode_head.bottleneck.conv.weight',
            SOURCE)[-1])
        if info['bottleneck_kernel'] == 1:
            # With JPU the authors' first conv is 1x1 where mmseg's EncHead
            # has a 3x3 bottleneck with padding 1: a 1x1 kernel in the centre
            # of zeros computes the same.
            state_dict = dict(state_dict)
            state_dict[ENC_BOTTLENECK] = F.pad(state_dict[ENC_BOTTLENECK],
                                               (1, 1, 1, 1))
    info['config'] = CONFIG.format(depth=config_depth, head=head)
    model, info['cfg_options'] = target_model(info['config'], values)
    converted = convert(state_dict, rules, model=model, source=SOURCE,
                        target=f"configs/{info['config']}", dropped=DROPPED)
    info['dropped'] = [key for key in DROPPED if key in state_dict]
    info.update(dataset_meta('ADE20KDataset', num_classes))
    return converted, info
