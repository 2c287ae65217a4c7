"""Draw a dataset's labels on its images, as the config's pipeline gives them.

    python tools/analysis_tools/browse_dataset.py CONFIG [--split train] \
        [--limit 20] [--out-dir DIR] [--cfg-options KEY=VALUE ...]

One ``<index>_<image>.png`` per sample: the (augmented, for ``train``) image
with its labels blended in and a legend of the classes present; pixels
labelled 255 are left as the photo.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from fcn_mm.apis.browse import SPLITS, browse_dataset
from fcn_mm.apis.cli import existing_file
from fcn_mm.apis.run_config import load_run_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', type=existing_file, help='config file')
    parser.add_argument('--split', choices=SPLITS, default='train')
    parser.add_argument('--limit', type=int, default=20,
                        help='samples to draw (0: all); default 20')
    parser.add_argument('--out-dir', help='default: work_dirs/browse/'
                        '<config name>/<split>')
    parser.add_argument('--opacity', type=float, default=0.5)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config edits, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_run_config(args.config, cfg_options=args.cfg_options)
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'browse', osp.splitext(osp.basename(args.config))[0],
        args.split)
    bar, count = None, 0
    try:
        for _, count in browse_dataset(cfg, split=args.split,
                                       out_dir=out_dir,
                                       limit=args.limit or None,
                                       opacity=args.opacity):
            bar = bar or ProgressBar(count)
            bar.update()
    except (OSError, ValueError) as error:  # missing data, a full disk
        sys.exit(f'error: {error}')
    print(f'\n{count} samples -> {out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
