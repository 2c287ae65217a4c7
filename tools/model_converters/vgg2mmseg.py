"""Convert ImageNet VGG16 weights to an FCNVGG16 initialisation.

Command line over :func:`fcn_mm.converters.convert_torchvision_vgg16`::

    python tools/model_converters/vgg2mmseg.py vgg16-397923af.pth \
        checkpoints/vgg16_imagenet_fcn_mm.pth

The output suits a backbone ``init_cfg=dict(type='Pretrained',
checkpoint=...)``, as in ``configs/fcn8s_voc_aug.py``. For ``load_from``,
which loads into the whole segmentor, add ``--prefix backbone.``.
Torchvision's weights expect torchvision's RGB normalisation
(``configs/_base_/models/fcn8s_vgg16.py``); Caffe's VGG16, e.g. pytorch-fcn's
``vgg16_from_caffe.pth``, expects BGR minus the mean
(``configs/_base_/models/fcn8s_vgg16_caffe.py``).
"""
import sys

from fcn_mm.converters import convert_torchvision_vgg16
from fcn_mm.converters.cli import converter_parser, run_converter


def main(argv=None) -> int:
    return run_converter(
        convert_torchvision_vgg16,
        converter_parser(
            'Convert ImageNet VGG16 weights (torchvision or Caffe layer '
            'names) to FCNVGG16 keys', 'VGG16 checkpoint (.pth)',
            prefix=dict(default='', help="put before every key: '' for a "
                        "backbone init_cfg (default), 'backbone.' for "
                        'load_from')), argv)


if __name__ == '__main__':
    sys.exit(main())
