"""Plot training loss and validation mIoU (or any logged scalar) of a run.

    python tools/analysis_tools/analyze_logs.py WORK_DIR \
        [--keys loss mIoU] [--out curves.png]

Reads WORK_DIR/*/vis_data/scalars.json, as mmengine's runner writes it
(resumed runs included); draws with matplotlib (no seaborn).
"""
import argparse
import os.path as osp
import sys

from fcn_mm.apis.analysis import plot_curves


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', help='work dir of a tools/train.py run')
    parser.add_argument('--keys', nargs='+', default=['loss', 'mIoU'],
                        help='scalars to plot (default: loss mIoU)')
    parser.add_argument('--out', help='PNG to write (default: '
                        'WORK_DIR/curves.png)')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    out = args.out or osp.join(args.work_dir, 'curves.png')
    try:
        series = plot_curves(args.work_dir, out, keys=args.keys)
    except (FileNotFoundError, KeyError) as error:
        sys.exit(f'error: {error}')
    for key, points in series.items():
        last_iter, last = points[-1]
        print(f'{key}: {len(points)} points, last {last:.4g} at iteration '
              f'{last_iter}')
    print(f'curves -> {out}')
    return out


if __name__ == '__main__':
    main()
