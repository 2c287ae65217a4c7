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
import argparse
import sys

from fcn_mm.converters import (ConversionError, convert_torchvision_vgg16,
                               load_source, save_checkpoint)
from fcn_mm.engine import UntrustedCheckpointError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert ImageNet VGG16 weights (torchvision or Caffe '
        'layer names) to FCNVGG16 keys')
    parser.add_argument('src', help='VGG16 checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the fcn_mm checkpoint')
    parser.add_argument(
        '--prefix',
        default='',
        help="put before every key: '' for a backbone init_cfg (default), "
        "'backbone.' for load_from")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state_dict, info = convert_torchvision_vgg16(
            load_source(args.src), prefix=args.prefix)
    except (ConversionError, FileNotFoundError,
            UntrustedCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    save_checkpoint(state_dict, args.dst, meta=info)
    dropped = ', '.join(info['dropped']) or 'nothing'
    print(f"converted {len(state_dict)} tensors of {info['source']} "
          f"(stages {info['stage_channels']}, fc {info['fc_channels']}; "
          f'dropped {dropped}) -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
