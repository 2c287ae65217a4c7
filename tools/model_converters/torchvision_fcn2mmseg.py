"""Convert torchvision ``fcn_resnet50``/``fcn_resnet101`` weights to fcn_mm.

Command line over :func:`fcn_mm.converters.convert_torchvision_fcn`, named
like MMSegmentation's ``tools/model_converters/*2mmseg.py``::

    python tools/model_converters/torchvision_fcn2mmseg.py \
        fcn_resnet50_coco-1167a1af.pth checkpoints/fcn_r50b-d8_torchvision.pth
    python tools/test.py \
        configs/fcn_torchvision/fcn_r50b-d8_4xb4-20k_voc12aug-512x512.py \
        checkpoints/fcn_r50b-d8_torchvision.pth
"""
import argparse
import sys

from fcn_mm.converters import (ConversionError, convert_torchvision_fcn,
                               load_source, save_checkpoint)
from fcn_mm.engine import UntrustedCheckpointError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert torchvision FCN-ResNet50/101 weights to fcn_mm '
        'keys')
    parser.add_argument('src', help='torchvision FCN state dict (.pth)')
    parser.add_argument('dst', help='where to write the fcn_mm checkpoint')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state_dict, info = convert_torchvision_fcn(load_source(args.src))
    except (ConversionError, FileNotFoundError,
            UntrustedCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    save_checkpoint(state_dict, args.dst, meta=info)
    print(f"converted {len(state_dict)} tensors of {info['source']} "
          f"(R-{info['depth']}, {info['num_classes']} classes) -> {args.dst}")
    options = ''.join(f' {o}' for o in info['cfg_options'])
    print(f"test it with: python tools/test.py {info['config']} {args.dst}" +
          (f' --cfg-options{options}' if options else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
