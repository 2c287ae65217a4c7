"""Segment photos with a trained model and save what it found.

    python tools/predict.py CONFIG CHECKPOINT IMAGES... [--out-dir DIR]

IMAGES are files, folders or quoted globs ("photos/*.jpg"). For each image,
DIR (default ./predictions) gets ``<stem>_overlay.png``, the prediction on the
photo with a legend of the classes present, and with --save-index
``<stem>_pred.png``, the class indices as a palette PNG (VOC's label format).
"""
import argparse
import sys

from mmengine.utils import ProgressBar

from fcn_mm.apis.inference import (collect_images, load_model,
                                   mmseg_segmenter, predict_images)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+',
                        help='image files, folders or quoted globs')
    parser.add_argument('--out-dir', default='predictions',
                        help='where to write the results (default: '
                        './predictions)')
    parser.add_argument('--save-index', action='store_true',
                        help='also save each prediction as a palette PNG of '
                        'class indices')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='weight of the class colours on the photo, 0..1')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        images = collect_images(args.images)
        model = load_model(args.config, args.checkpoint, device=args.device)
    except FileNotFoundError as error:
        sys.exit(f'error: {error}')
    meta = model.dataset_meta
    bar = ProgressBar(len(images))
    try:
        for _ in predict_images(
                mmseg_segmenter(model), images, out_dir=args.out_dir,
                classes=meta['classes'], palette=meta['palette'],
                opacity=args.opacity, save_index=args.save_index):
            bar.update()
    except ValueError as error:
        sys.exit(f'\nerror: {error}')
    print(f'\n{len(images)} images -> {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
