"""Segmenting photos with a trained model and showing what it found.

The core, :func:`predict_images`, takes any callable that maps a BGR image to
class indices, so that mmseg's model (:func:`mmseg_segmenter`) and exported
models run through the same loop: read each image, segment it, write an
overlay of the prediction on the photo with a legend of the classes present
and, on request, the prediction as a palette PNG of class indices (VOC's
label format). The legend follows mmseg's ``SegLocalVisualizer``, which names
the classes on the image; here they go beside it, so nothing is hidden.
"""
import glob
import os.path as osp
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from ..fileio import atomic_write, remove_stale_temporaries, save_palette_png

__all__ = [
    'IMAGE_SUFFIXES', 'collect_images', 'draw_overlay', 'load_model',
    'mmseg_segmenter', 'predict_images'
]

TMP_TAG = 'overlay'  # the temporaries of predict_images' writes
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# (H, W, 3) uint8 BGR image, as mmcv.imread gives it -> (H, W) class indices
Segmenter = Callable[[np.ndarray], np.ndarray]


def collect_images(inputs: Sequence[str]) -> List[Path]:
    """The image files named by files, folders and glob patterns.

    Args:
        inputs (Sequence[str]): Image files, folders (their images, sorted,
            not recursive) or globs such as ``'photos/**/*.jpg'``.

    Returns:
        list[Path]: Each image once, in the order given.

    Raises:
        FileNotFoundError: An input is none of these, or names no image.
    """
    images = {}
    for item in map(str, inputs):
        if osp.isdir(item):
            found = sorted(p for p in Path(item).iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES)
        elif glob.has_magic(item):
            found = [Path(p) for p in sorted(glob.glob(item, recursive=True))
                     if Path(p).suffix.lower() in IMAGE_SUFFIXES]
        elif osp.isfile(item):
            found = [Path(item)]
        else:
            raise FileNotFoundError(
                f'{item} does not exist or is not a file; give image files, '
                'folders or quoted globs such as "photos/*.jpg"')
        if not found:
            raise FileNotFoundError(
                f'no images ({", ".join(IMAGE_SUFFIXES)}) in {item}')
        images.update(dict.fromkeys(found))
    return list(images)


def load_model(config: str, checkpoint: Optional[str] = None, *,
               device: str = 'cpu') -> nn.Module:
    """mmseg's ``init_model``, after checking that the files exist, with a
    checkpoint that must fit the model.

    mmseg's ``init_model`` loads with ``strict=False``: a checkpoint of
    another class count would predict with a random head. Here its keys and
    shapes must be the model's (:func:`load_fitting_checkpoint`); classes
    and palette come from its ``meta`` as in ``init_model``. SyncBN layers
    become BN (mmseg's tools do the same), so that a model configured for
    distributed training runs in one process; known upstream warnings are
    filtered (:mod:`fcn_mm.engine.console`).

    Args:
        config (str): The config file.
        checkpoint (str, optional): A checkpoint file; None keeps the random
            initialisation. Defaults to None.
        device (str): Where to put the model. Defaults to 'cpu'.

    Returns:
        nn.Module: The segmentor in eval mode, with ``cfg`` and, from the
        checkpoint, ``dataset_meta``.

    Raises:
        FileNotFoundError: ``config`` or ``checkpoint`` is not a file.
        fcn_mm.engine.checkpoint.CheckpointMismatchError: The checkpoint's
            keys or shapes differ from the model's; names them.
        fcn_mm.engine.CorruptCheckpointError: Its bytes are altered.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmseg.apis import init_model

    from ..engine.checkpoint import load_fitting_checkpoint
    from ..engine.console import filter_upstream_warnings
    filter_upstream_warnings()
    for path in (config, checkpoint):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{path} does not exist or is not a file')
    model = init_model(config, None, device='cpu')
    if checkpoint is not None:
        meta = load_fitting_checkpoint(model, checkpoint).get('meta', {})
        model.dataset_meta = _dataset_meta(meta, model)
    return revert_sync_batchnorm(model.to(device))


def _dataset_meta(meta: dict, model: nn.Module) -> dict:
    """Classes and palette from a checkpoint's ``meta``, as mmseg's
    ``init_model`` reads them (mmseg 1.x, 0.x, else guessed by the count)."""
    from mmengine.logging import MMLogger
    from mmseg.utils import dataset_aliases, get_classes, get_palette
    if 'dataset_meta' in meta:
        return meta['dataset_meta']
    if 'CLASSES' in meta:
        return dict(classes=meta['CLASSES'], palette=meta['PALETTE'])
    num_classes = model.decode_head.num_classes
    name = next((name for name in dataset_aliases
                 if len(get_classes(name)) == num_classes), 'cityscapes')
    MMLogger.get_current_instance().warning(
        'The checkpoint names no classes (no dataset_meta in its meta); '
        f'using the names of {name} ({len(get_classes(name))} classes, the '
        f'model has {num_classes}).')
    return dict(classes=get_classes(name), palette=get_palette(name))


def mmseg_segmenter(model) -> Segmenter:
    """Wrap a model from :func:`mmseg.apis.init_model` as a segmenter.

    Args:
        model (BaseSegmentor): The model, with its ``cfg``.

    Returns:
        Callable: BGR image -> (H, W) int64 class indices.
    """
    from mmseg.apis import inference_model

    def segment(image: np.ndarray) -> np.ndarray:
        result = inference_model(model, image)
        return result.pred_sem_seg.data[0].cpu().numpy()

    return segment


def _font(size: int) -> ImageFont.ImageFont:
    try:  # scalable with FreeType (Pillow >= 10.1), else Pillow's bitmap font
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _label_name(index: int, classes: Sequence[str],
                ignore_index: Optional[int]) -> str:
    if index == ignore_index:
        return 'ignored'
    return classes[index] if index < len(classes) else str(index)


def draw_overlay(image: np.ndarray, label: np.ndarray, *,
                 classes: Sequence[str], palette: Sequence,
                 opacity: float = 0.5,
                 ignore_index: Optional[int] = None) -> Image.Image:
    """The prediction blended on the photo, with a legend on the right.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB photo.
        label (np.ndarray): (H, W) class indices.
        classes (Sequence[str]): Class names by index.
        palette (Sequence): RGB colour by class index.
        opacity (float): Weight of the class colours, 0..1. Defaults to 0.5.
        ignore_index (int, optional): A label (255 in ground truth) left as
            the photo and listed as 'ignored'. Defaults to None.

    Returns:
        PIL.Image.Image: RGB, the photo's height (or the legend's if taller)
        and wider by the legend, which lists the classes present, most pixels
        first, with their share of the image.
    """
    if not 0 <= opacity <= 1:
        raise ValueError(f'opacity is a weight in 0..1, got {opacity}')
    if image.shape[:2] != label.shape:
        raise ValueError(f'the image is {image.shape[:2]} but its prediction '
                         f'{label.shape}')
    colours = np.zeros((256, 3), np.uint8)
    given = np.asarray(palette, np.uint8).reshape(-1, 3)[:256]
    colours[:len(given)] = given
    blended = (1 - opacity) * image + opacity * colours[label]
    if ignore_index is not None:
        ignored = label == ignore_index
        blended[ignored] = image[ignored]
        colours[ignore_index] = 255  # a white swatch: no colour
    photo = Image.fromarray(np.round(blended).astype(np.uint8))
    counts = np.bincount(label.ravel(), minlength=len(classes))
    present = [i for i in np.argsort(-counts, kind='stable') if counts[i]]
    font = _font(max(12, min(photo.size) // 30))
    line = font.getbbox('Ag')[3] + 6
    names = [f'{_label_name(i, classes, ignore_index)} '
             f'{100 * counts[i] / label.size:.1f}%' for i in present]
    width = line + 12 + max(int(font.getlength(n)) for n in names) + 8
    canvas = Image.new('RGB', (photo.width + width,
                               max(photo.height, line * len(names) + 8)),
                       'white')
    canvas.paste(photo)
    draw = ImageDraw.Draw(canvas)
    for row, (index, name) in enumerate(zip(present, names)):
        x, y = photo.width + 6, 4 + row * line
        draw.rectangle([x, y, x + line - 6, y + line - 6],
                       fill=tuple(int(c) for c in colours[index]),
                       outline='black')
        draw.text((x + line + 2, y), name, fill='black', font=font)
    return canvas


def _outputs(images: List[Path], out_dir: Path) -> Dict[Path, Path]:
    """Output stem of each image; two images with one name are refused."""
    stems: Dict[str, Path] = {}
    for image in images:
        if image.stem in stems:
            raise ValueError(
                f'{stems[image.stem]} and {image} would both be written as '
                f'{out_dir / image.stem}*; predict them into different '
                '--out-dir folders')
        stems[image.stem] = image
    return {image: out_dir / image.stem for image in images}


def predict_images(segment: Segmenter, images: Sequence[Path], *,
                   out_dir: str, classes: Sequence[str], palette: Sequence,
                   opacity: float = 0.5, save_index: bool = False
                   ) -> Iterator[Tuple[Path, List[Path]]]:
    """Segment images and write an overlay (and index PNG) for each.

    Args:
        segment (Callable): BGR image -> (H, W) class indices, e.g.
            :func:`mmseg_segmenter`.
        images (Sequence[Path]): Image files, see :func:`collect_images`.
        out_dir (str): Folder for ``<stem>_overlay.png`` and
            ``<stem>_pred.png``; created if missing.
        classes (Sequence[str]): Class names by index.
        palette (Sequence): RGB colour by class index.
        opacity (float): See :func:`draw_overlay`. Defaults to 0.5.
        save_index (bool): Also write the prediction as a palette PNG of
            class indices. Defaults to False.

    Yields:
        tuple[Path, list[Path]]: Each image and the files written for it,
        after they are complete.
    """
    out = Path(out_dir)
    stems = _outputs(list(images), out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out, TMP_TAG)  # of a killed earlier run
    for image, stem in stems.items():
        bgr = mmcv.imread(str(image))
        if bgr is None:
            raise ValueError(f'{image} is not an image OpenCV can read')
        label = np.asarray(segment(bgr))
        if label.shape != bgr.shape[:2]:
            raise ValueError(f'the segmenter returned {label.shape} for '
                             f'{image}, which is {bgr.shape[:2]}')
        overlay = draw_overlay(mmcv.bgr2rgb(bgr), label, classes=classes,
                               palette=palette, opacity=opacity)
        written = [stem.with_name(f'{stem.name}_overlay.png')]
        atomic_write(written[0], lambda f: overlay.save(f, format='PNG'),
                     TMP_TAG)
        if save_index:
            written.append(stem.with_name(f'{stem.name}_pred.png'))
            save_palette_png(label, written[1], palette, TMP_TAG)
        yield image, written
