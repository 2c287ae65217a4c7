"""Segment images with a trained model and save colourised predictions.

    python tools/predict.py CONFIG CHECKPOINT IMG [IMG ...] [--out-dir DIR]

CHECKPOINT is a ``.onnx`` file of tools/deploy/export_onnx.py with
``--backend onnxruntime``; ``--fast-path`` runs PyTorch on the CPU fast path
(channels_last, bf16 where it keeps the predictions; see README). Each
prediction is a palette PNG (the dataset's palette, VOC's for VOC) named
``<image stem>_pred.png``, written beside its image unless --out-dir is given.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from mmengine.config import Config
from mmseg.apis import inference_model, init_model

import fcn_mm  # noqa: F401  (registers the models, lets checkpoints load)
from fcn_mm.apis.fast_inference import (FastInferenceSegmentor,
                                        add_fast_path_argument)
from fcn_mm.fileio import save_palette_png


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument(
        '--out-dir', help='where to write predictions (default: beside each '
        'image)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--backend', choices=['pytorch', 'onnxruntime'], default='pytorch',
        help='onnxruntime runs CHECKPOINT as an exported .onnx graph')
    add_fast_path_argument(parser)
    return parser.parse_args()


def build_segmenter(args):
    """(image path -> (H, W) uint8 labels, palette) for the chosen backend."""
    if args.backend == 'onnxruntime':
        if args.fast_path:
            sys.exit('error: --fast-path is for the PyTorch backend')
        from fcn_mm.apis.onnx_inference import OnnxSegmentor
        try:
            model = OnnxSegmentor(args.checkpoint,
                                  Config.fromfile(args.config))
        except (ImportError, ValueError) as err:
            sys.exit(f'error: {err}')
        return model, model.dataset_meta['palette']
    model = init_model(args.config, args.checkpoint, device=args.device)
    palette = model.dataset_meta['palette']
    if args.fast_path:
        model = FastInferenceSegmentor(model, precision=args.fast_path)

    def segment(image):
        result = inference_model(model, str(image))
        return result.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)

    return segment, palette


def main():
    args = parse_args()
    for path in [args.config, args.checkpoint, *args.images]:
        if not Path(path).is_file():
            sys.exit(f'error: {path} does not exist or is not a file')
    segment, palette = build_segmenter(args)
    for image in map(Path, args.images):
        label = segment(image)
        out_dir = Path(args.out_dir) if args.out_dir else image.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f'{image.stem}_pred.png'
        save_palette_png(label, out, palette)
        print(f'{image} -> {out}')


if __name__ == '__main__':
    main()
