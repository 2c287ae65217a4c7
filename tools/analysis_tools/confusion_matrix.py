"""Plot the confusion matrix that tools/test.py saved.

    python tools/analysis_tools/confusion_matrix.py \
        WORK_DIR/TIMESTAMP/per_class.json [--out confusion.png] [--counts]

Rows are labels, columns predictions; by default each row is shown as the
percentage of that label's pixels. The matrix is counted in int64 during the
test (mmseg's own tool overflows uint8, open-mmlab/mmsegmentation#3583).
"""
import argparse
import json
import os.path as osp
import sys

from fcn_mm.apis.analysis import plot_confusion_matrix


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('report', help='per_class.json from tools/test.py')
    parser.add_argument('--out', help='PNG to write (default: beside the '
                        'report, confusion_matrix.png)')
    parser.add_argument('--counts', action='store_true',
                        help='show pixel counts instead of row percentages')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    try:
        with open(args.report) as f:
            report = json.load(f)
        report['confusion_matrix']
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f'error: {args.report} is not a per_class.json written by '
                 f'tools/test.py ({type(error).__name__}: {error})')
    out = args.out or osp.join(osp.dirname(args.report),
                               'confusion_matrix.png')
    plot_confusion_matrix(report, out, normalize=not args.counts,
                          title=args.title)
    print(f'confusion matrix -> {out}')
    return out


if __name__ == '__main__':
    main()
