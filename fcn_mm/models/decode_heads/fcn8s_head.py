"""The FCN-8s / FCN-16s / FCN-32s skip-fusion head.

Follows Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic
Segmentation" (CVPR 2015 / TPAMI 2017) and its Caffe reference nets: fc7 is
scored, upsampled x2 and summed with the scored pool4 (FCN-16s), then again
with the scored pool3 (FCN-8s); the sum is upsampled to the input. Layer names
(``score_fr``, ``score_pool4``, ``upscore2`` ...) are those of the prototxt and
of pytorch-fcn, so converting their weights is a table.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS

# Upsampling layers and their strides, by number of skips (32s, 16s, 8s).
UPSAMPLE_LAYERS = {
    0: (('upscore', 32), ),
    1: (('upscore2', 2), ('upscore16', 16)),
    2: (('upscore2', 2), ('upscore_pool4', 2), ('upscore8', 8)),
}
# Caffe-exact crop offsets: where a skip's score map lines up with the
# upsampled coarser map, derived from conv1_1's padding of 100 through the
# receptive fields (paper, Sec. 4.1).
SKIP_OFFSETS = {'pool4': 5, 'pool3': 9}
# Where the final upsampled map lines up with the input, by number of skips.
OUTPUT_OFFSETS = {0: 19, 1: 27, 2: 31}


def bilinear_kernel(channels: int, kernel_size: int) -> Tensor:
    """Weights of a transposed conv that upsamples each channel bilinearly.

    Args:
        channels (int): Input = output channels; each maps only to itself
            (the kernel sits on the class diagonal).
        kernel_size (int): Kernel size, twice the stride.

    Returns:
        Tensor: (channels, channels, kernel_size, kernel_size) weights.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    filt1d = 1 - (og - center).abs() / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size,
                         dtype=torch.float64)
    weight[range(channels), range(channels)] = torch.outer(filt1d, filt1d)
    return weight.float()


@MODELS.register_module()
class FCN8sHead(BaseDecodeHead):
    """FCN skip-fusion head; ``num_skips`` 2, 1, 0 give FCN-8s, 16s, 32s.

    Takes (pool3, pool4, fc7) from :class:`FCNVGG16`. In *caffe* mode skips are
    cropped at the reference offsets, upsampling is by transposed convs
    initialised bilinear and frozen by default, and the output is cropped to
    the input; in *modern* mode each upsampled map is resized to the skip's
    (or the input's) size, so no offsets are needed.

    Args:
        mode (str): ``'caffe'`` or ``'modern'``. Defaults to ``'modern'``.
        num_skips (int): Skip levels fused: 2 (8s), 1 (16s) or 0 (32s).
            Defaults to 2.
        skip_scales (Sequence[float], optional): Factors applied to pool4 and
            pool3 before scoring; the reference "at-once" FCN-8s uses
            (0.01, 0.0001). Defaults to None (no scaling).
        freeze_upsample (bool, optional): Keep the bilinear upsampling fixed.
            Defaults to True in caffe mode (as the reference), False in modern.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels`` is
            (pool3, pool4, fc7) widths, ``num_classes``, losses ...).
    """

    def __init__(self,
                 *,
                 mode: str = 'modern',
                 num_skips: int = 2,
                 skip_scales: Optional[Sequence[float]] = None,
                 freeze_upsample: Optional[bool] = None,
                 in_channels: Sequence[int] = (256, 512, 4096),
                 **kwargs):
        if mode not in ('caffe', 'modern'):
            raise ValueError(f"FCN8sHead mode must be 'caffe' or 'modern', "
                             f'got {mode!r}')
        if num_skips not in UPSAMPLE_LAYERS:
            raise ValueError('FCN8sHead num_skips must be 2 (FCN-8s), 1 '
                             f'(FCN-16s) or 0 (FCN-32s), got {num_skips!r}')
        if len(in_channels) != 3:
            raise ValueError('FCN8sHead takes the widths of (pool3, pool4, '
                             f'fc7), got in_channels={tuple(in_channels)}')
        if skip_scales is not None and len(skip_scales) != 2:
            raise ValueError('skip_scales are the factors for (pool4, pool3), '
                             f'got {skip_scales!r}')
        kwargs.setdefault('dropout_ratio', 0)
        # Zero-initialised scoring layers, as in the paper (Sec. 4.3).
        kwargs.setdefault('init_cfg',
                          dict(type='Constant', val=0, layer='Conv2d'))
        super().__init__(
            in_channels=list(in_channels),
            channels=in_channels[-1],
            in_index=[0, 1, 2],
            input_transform='multiple_select',
            **kwargs)
        # score_fr, score_pool4 and score_pool3 are this head's classifiers.
        del self.conv_seg
        self.mode = mode
        self.num_skips = num_skips
        self.skip_scales = tuple(skip_scales) if skip_scales else (1.0, 1.0)
        if freeze_upsample is None:
            freeze_upsample = mode == 'caffe'

        k = self.out_channels
        self.score_fr = nn.Conv2d(in_channels[2], k, 1)
        if num_skips >= 1:
            self.score_pool4 = nn.Conv2d(in_channels[1], k, 1)
        if num_skips == 2:
            self.score_pool3 = nn.Conv2d(in_channels[0], k, 1)
        for name, stride in UPSAMPLE_LAYERS[num_skips]:
            # Kernel 2x the stride, no bias, as the reference; modern mode
            # pads so the output is exactly stride x the input.
            padding = 0 if mode == 'caffe' else stride // 2
            up = nn.ConvTranspose2d(
                k, k, 2 * stride, stride=stride, padding=padding, bias=False)
            up.weight.data.copy_(bilinear_kernel(k, 2 * stride))
            up.weight.requires_grad_(not freeze_upsample)
            self.add_module(name, up)

    def forward(self, inputs: Tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """Fuse the skips; the result is not yet aligned to the input.

        Returns the last upsampled map: in caffe mode it is larger than the
        input and :meth:`to_input_size` crops it at the reference offset; in
        modern mode it is 32/2**num_skips x the deepest fused map.
        """
        pool3, pool4, fc7 = self._transform_inputs(inputs)
        x = self.score_fr(fc7)  # (N, K, h32, w32)
        skips = (('pool4', pool4), ('pool3', pool3))[:self.num_skips]
        layers = [getattr(self, n) for n, _ in UPSAMPLE_LAYERS[self.num_skips]]
        for up, (name, feat), scale in zip(layers, skips, self.skip_scales):
            x = up(x)  # (N, K, 2 h, 2 w)
            if scale != 1.0:
                feat = feat * scale
            skip = getattr(self, f'score_{name}')(feat)
            if self.mode == 'caffe':
                off = SKIP_OFFSETS[name]
                skip = skip[:, :, off:off + x.shape[2], off:off + x.shape[3]]
            else:
                x = resize(x, size=skip.shape[2:], mode='bilinear',
                           align_corners=False)
            x = x + skip
        return layers[-1](x)

    def to_input_size(self, seg_logits: Tensor,
                      size: Sequence[int]) -> Tensor:
        """Align :meth:`forward`'s output with an input of ``size`` (h, w)."""
        # No int(): under torch.export, h and w stay symbolic (int() would
        # fix the exported graph to the traced input size).
        h, w = size[0], size[1]
        if self.mode == 'modern':
            return resize(seg_logits, size=(h, w), mode='bilinear',
                          align_corners=False)
        off = OUTPUT_OFFSETS[self.num_skips]
        if seg_logits.shape[2] < off + h or seg_logits.shape[3] < off + w:
            raise ValueError(
                f'caffe-mode FCN output {tuple(seg_logits.shape[2:])} cannot '
                f'be cropped to the input {(h, w)} at offset {off}: the '
                'backbone must be FCNVGG16 in caffe mode (conv1_1 padding 100)')
        return seg_logits[:, :, off:off + h, off:off + w]

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: List) -> dict:
        """Align to the (padded) batch input, then mmseg's loss."""
        size = batch_data_samples[0].gt_sem_seg.shape
        return super().loss_by_feat(
            self.to_input_size(seg_logits, size), batch_data_samples)

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Align to the network input, as mmseg sizes it, then mmseg's."""
        meta = batch_img_metas[0]
        if isinstance(meta['img_shape'], torch.Size):  # slide inference
            size = meta['img_shape']
        else:
            size = meta.get('pad_shape', meta['img_shape'])[:2]
        return super().predict_by_feat(
            self.to_input_size(seg_logits, size), batch_img_metas)
