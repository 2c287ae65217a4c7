"""Convert a FastFCN authors' checkpoint (wuhuikai/FastFCN) to fcn_mm.

Command line over :func:`fcn_mm.converters.convert_fastfcn`, named like
MMSegmentation's ``tools/model_converters/*2mmseg.py``::

    python tools/model_converters/fastfcn2mmseg.py \
        runs/ade20k/encnet/encnet_res50_ade20k_train/model_best.pth.tar \
        checkpoints/fastfcn_r50-d32_jpu_enc_authors_ade20k.pth
    python tools/test.py \
        configs/fastfcn/fastfcn_r50-d32_jpu_enc_authors_ade20k-512x512.py \
        checkpoints/fastfcn_r50-d32_jpu_enc_authors_ade20k.pth

JPU + FCN, EncNet or PSP heads; the printed config keeps the authors'
conventions (deep stem 128 wide, JPU concat order, aligned corners).
"""
import sys

from fcn_mm.converters import convert_fastfcn
from fcn_mm.converters.cli import converter_parser, run_converter


def main(argv=None) -> int:
    return run_converter(
        convert_fastfcn,
        converter_parser(
            "Convert FastFCN authors' JPU + FCN/EncNet/PSP weights to fcn_mm "
            'keys', 'FastFCN checkpoint (.pth / .pth.tar)'), argv)


if __name__ == '__main__':
    sys.exit(main())
