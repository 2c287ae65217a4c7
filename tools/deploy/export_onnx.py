"""Export a segmentor to ONNX and check the graph against PyTorch.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT OUTPUT.onnx \
        [--shape H W] [--with-labels] [--check-shapes H W H W ...]

The graph's input ``image`` is float32 (N, 3, H, W), BGR 0-255 as
``LoadImageFromFile`` reads it, N, H and W dynamic; its output ``logits``
(N, num_classes, H, W) is aligned with the input as ``model.predict`` aligns
it (``labels``, the argmax, with --with-labels). Before anything is written,
onnxruntime runs the graph on random images of two other sizes (one odd),
PyTorch runs the model on them in float32 and in float64, and the tool prints
onnxruntime's and PyTorch float32's largest logit errors against float64, the
bound derived from the latter (fcn_mm.numerics: float32 rounding noise on this
CPU, so a correct graph passes on any CPU) and the argmax agreement; an error
over the bound (or a wrong output shape) exits with status 1 and writes
nothing.
"""
import argparse
import sys

from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmseg.apis import init_model
from prettytable import PrettyTable

import fcn_mm  # noqa: F401  (registers the models, lets checkpoints load)
from fcn_mm.apis import existing_file
from fcn_mm.apis.export import (DEFAULT_OPSET, check_onnx, check_sizes,
                                export_onnx, save_onnx)
from fcn_mm.numerics import FLOOR_EPS, NOISE_MULTIPLE


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (``argv``, or ``sys.argv[1:]`` when None)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', type=existing_file, help='config file')
    parser.add_argument(
        'checkpoint', type=existing_file, help='checkpoint file or URL')
    parser.add_argument('output', help='the .onnx file to write')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[512, 512],
        metavar=('H', 'W'), help='size of the example input the exporter '
        'traces (the graph takes any size)')
    parser.add_argument(
        '--check-shapes', type=int, nargs='+', metavar='H W',
        help='sizes to check onnxruntime against PyTorch at, as H W pairs; '
        'default: one smaller than --shape and one larger with odd sides')
    parser.add_argument(
        '--with-labels', action='store_true',
        help='add the argmax output "labels" (N, H, W), int64')
    parser.add_argument(
        '--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset')
    parser.add_argument(
        '--rtol', type=float,
        help='a fixed bound instead of the derived one: the largest allowed '
        'onnxruntime-PyTorch float32 logit difference, relative to the '
        'largest logit (at least 1)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value')
    args = parser.parse_args(argv)
    shapes = args.check_shapes
    if shapes is not None and (len(shapes) % 2 or min(shapes) < 1):
        parser.error('--check-shapes takes positive H W pairs, got '
                     f'{shapes}')
    return args


def main(argv=None) -> list:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = revert_sync_batchnorm(
        init_model(cfg, args.checkpoint, device='cpu'))
    try:
        onnx_model = export_onnx(
            model, sample_size=tuple(args.shape),
            with_labels=args.with_labels, opset=args.opset)
    except ValueError as err:
        sys.exit(f'error: cannot export {args.config}: {err}')
    shapes = args.check_shapes
    sizes = (list(zip(shapes[::2], shapes[1::2]))
             if shapes else check_sizes(tuple(args.shape)))
    try:
        results = check_onnx(onnx_model, model, sizes, rtol=args.rtol)
    except ValueError as err:
        sys.exit(f'error: {err}; {args.output} was not written')
    table = PrettyTable(field_names=[
        'input H x W', 'max |logit|', 'PyTorch fp32 error',
        'onnxruntime error', 'bound', 'ORT - fp32', 'argmax agreement'
    ])
    for r in results:
        table.add_row([
            '{} x {}'.format(*r['size']), f"{r['max_abs_logit']:.3g}",
            f"{r['float32_error']:.3g}", f"{r['onnx_error']:.3g}",
            f"{r['bound']:.3g}", f"{r['max_abs_diff']:.3g}",
            f"{100 * r['label_agreement']:.3f}%"
        ])
    if args.rtol is None:
        print('onnxruntime and PyTorch float32 against PyTorch float64 '
              '(largest |logit error|), random images; bound = '
              f'{NOISE_MULTIPLE:g} x PyTorch fp32 error + {FLOOR_EPS:g} '
              'eps32 x max |logit|:')
    else:
        print('onnxruntime against PyTorch float32, random images; bound = '
              f'--rtol {args.rtol:g} x max(1, max |logit|) on ORT - fp32:')
    print(table)
    failed = [r['size'] for r in results if not r['passed']]
    if failed:
        sys.exit(f'error: onnxruntime logits beyond the bound at {failed} '
                 '(see the table): the graph computes something else than '
                 f'the model; {args.output} was not written')
    save_onnx(onnx_model, args.output)
    print(f'{args.config} -> {args.output} (dynamic N, H, W; outputs: '
          f"logits{', labels' if args.with_labels else ''})")
    return results


if __name__ == '__main__':
    main()
