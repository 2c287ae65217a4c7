"""Convert pytorch-fcn FCN weights to an fcn_mm checkpoint.

Command line over :func:`fcn_mm.converters.convert_torchfcn`, named like
MMSegmentation's ``tools/model_converters/*2mmseg.py``::

    python tools/model_converters/torchfcn2mmseg.py \
        fcn8s_from_caffe.pth checkpoints/fcn8s-caffe_vgg16_voc12.pth
    python tools/test.py configs/fcn8s/fcn8s-caffe_vgg16_voc12.py \
        checkpoints/fcn8s-caffe_vgg16_voc12.pth

FCN8sAtOnce weights have FCN8s's keys: convert them with
``--variant fcn8s-atonce`` and test them with
``configs/fcn8s/fcn8s-atonce-caffe_vgg16_voc12.py``.
"""
import sys

from fcn_mm.converters import convert_torchfcn
from fcn_mm.converters.cli import converter_parser, run_converter
from fcn_mm.converters.torchfcn import VARIANTS


def main(argv=None) -> int:
    return run_converter(
        convert_torchfcn,
        converter_parser(
            'Convert pytorch-fcn FCN32s/16s/8s/8sAtOnce weights to fcn_mm '
            'keys', 'pytorch-fcn checkpoint (.pth)',
            variant=dict(choices=VARIANTS, default='auto',
                         help="the pytorch-fcn model; 'auto' reads it off "
                         'the keys, which cannot tell FCN8sAtOnce from FCN8s '
                         '(default: auto)')), argv)


if __name__ == '__main__':
    sys.exit(main())
