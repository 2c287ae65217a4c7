"""Convert torchvision ``fcn_resnet50``/``fcn_resnet101`` weights to fcn_mm.

Command line over :func:`fcn_mm.converters.convert_torchvision_fcn`, named
like MMSegmentation's ``tools/model_converters/*2mmseg.py``::

    python tools/model_converters/torchvision_fcn2mmseg.py \
        fcn_resnet50_coco-1167a1af.pth checkpoints/fcn_r50b-d8_torchvision.pth
    python tools/test.py \
        configs/fcn_torchvision/fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py \
        checkpoints/fcn_r50b-d8_torchvision.pth
"""
import sys

from fcn_mm.converters import convert_torchvision_fcn
from fcn_mm.converters.cli import converter_parser, run_converter


def main(argv=None) -> int:
    return run_converter(
        convert_torchvision_fcn,
        converter_parser(
            'Convert torchvision FCN-ResNet50/101 weights to fcn_mm keys',
            'torchvision FCN state dict (.pth)'), argv)


if __name__ == '__main__':
    sys.exit(main())
