"""Segment photos with a trained model and save what it found.

    python tools/predict.py CONFIG CHECKPOINT IMAGES... [--out-dir DIR]

IMAGES are files, folders or quoted globs ("photos/*.jpg"). For each image,
DIR (default ./predictions) gets ``<stem>_overlay.png``, the prediction on the
photo with a legend of the classes present, and with --save-index
``<stem>_pred.png``, the class indices as a palette PNG (VOC's label format).
With ``--backend onnxruntime`` CHECKPOINT is a graph written by
tools/deploy/export_onnx.py; ``--fast-path`` runs PyTorch on the CPU fast path
(channels_last, bf16 where it keeps the predictions).
"""
import argparse
import sys

from mmengine.config import Config
from mmengine.utils import ProgressBar

from fcn_mm.apis.cli import expected_error_message, one_line_errors
from fcn_mm.apis.fast_inference import (FastInferenceSegmentor,
                                        add_fast_path_argument)
from fcn_mm.apis.inference import (collect_images, load_model,
                                   mmseg_segmenter, predict_images)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint (or .onnx) file')
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
    parser.add_argument(
        '--backend', choices=['pytorch', 'onnxruntime'], default='pytorch',
        help='onnxruntime runs CHECKPOINT as an exported .onnx graph')
    add_fast_path_argument(parser)
    return parser.parse_args(argv)


def build_segmenter(args: argparse.Namespace):
    """The backend's segmenter (BGR image -> class indices) and its
    ``dataset_meta``."""
    if args.backend == 'onnxruntime':
        if args.fast_path:
            raise ValueError('--fast-path is for the PyTorch backend')
        from fcn_mm.apis.onnx_inference import OnnxSegmentor
        model = OnnxSegmentor(args.checkpoint, Config.fromfile(args.config))
        return model, model.dataset_meta
    model = load_model(args.config, args.checkpoint, device=args.device)
    meta = model.dataset_meta
    if args.fast_path:
        model = FastInferenceSegmentor(model, precision=args.fast_path)
    return mmseg_segmenter(model), meta


@one_line_errors  # expected errors end in one line, see fcn_mm.apis.cli
def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        images = collect_images(args.images)
        segment, meta = build_segmenter(args)
    except (FileNotFoundError, ImportError, ValueError) as error:
        sys.exit(f'error: {error}')
    bar = ProgressBar(len(images))
    try:
        for _ in predict_images(
                segment, images, out_dir=args.out_dir,
                classes=meta['classes'], palette=meta['palette'],
                opacity=args.opacity, save_index=args.save_index):
            bar.update()
    except (OSError, ValueError) as error:  # a full disk names the file
        # On a line of its own, after the progress bar.
        sys.exit('\n' + (expected_error_message(error) or f'error: {error}'))
    print(f'\n{len(images)} images -> {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
