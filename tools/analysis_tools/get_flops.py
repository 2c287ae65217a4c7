"""FLOPs and parameters of a config's model at an input size.

    python tools/analysis_tools/get_flops.py CONFIG [--shape 512 512]

One multiply-add counts as one FLOP (mmengine's and fvcore's convention).
"""
import argparse
import sys

from fcn_mm.apis.analysis import complexity
from fcn_mm.apis.inference import load_model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'),
                        help='input size (default 512 512)')
    parser.add_argument('--table', action='store_true',
                        help='print the per-module breakdown too')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        model = load_model(args.config, device='cpu')
    except FileNotFoundError as error:
        sys.exit(f'error: {error}')
    info = complexity(model, tuple(args.shape))
    if args.table:
        print(info['table'])
    print(f"input 3x{args.shape[0]}x{args.shape[1]}: "
          f"GFLOPs {info['flops'] / 1e9:.2f}, "
          f"params {info['params'] / 1e6:.2f} M ({info['params']})")
    return info


if __name__ == '__main__':
    main()
