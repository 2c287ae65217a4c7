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
import argparse
import sys

from fcn_mm.converters import (ConversionError, convert_torchfcn, load_source,
                               save_checkpoint)
from fcn_mm.converters.torchfcn import VARIANTS
from fcn_mm.engine import UntrustedCheckpointError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert pytorch-fcn FCN32s/16s/8s/8sAtOnce weights to '
        'fcn_mm keys')
    parser.add_argument('src', help='pytorch-fcn checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the fcn_mm checkpoint')
    parser.add_argument(
        '--variant',
        choices=VARIANTS,
        default='auto',
        help="the pytorch-fcn model; 'auto' reads it off the keys, which "
        "cannot tell FCN8sAtOnce from FCN8s (default: auto)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state_dict, info = convert_torchfcn(
            load_source(args.src), variant=args.variant)
    except (ConversionError, FileNotFoundError,
            UntrustedCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    save_checkpoint(state_dict, args.dst, meta=info)
    print(f"converted {len(state_dict)} tensors of {info['source']} "
          f"({info['num_classes']} classes) -> {args.dst}")
    print(f"test it with: python tools/test.py {info['config']} {args.dst}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
