"""A small deterministic PASCAL VOC 2012 + SBD look-alike for demos and tests.

The files follow the real on-disk formats that MMSegmentation's VOC configs
and :func:`fcn_mm.datasets.voc_aug.convert_voc_aug` read:

* ``VOCdevkit/VOC2012``: ``JPEGImages/<id>.jpg``,
  ``SegmentationClass/<id>.png`` (palette PNGs with the VOC palette and a
  255 "void" band, 2 px wide, on object contours as in the official labels)
  and
  ``ImageSets/Segmentation/{train,val}.txt``;
* ``benchmark_RELEASE/dataset`` (the Semantic Boundaries Dataset of Hariharan
  et al., ICCV 2011): ``cls/<id>.mat`` with a ``GTcls`` struct holding
  ``Segmentation`` (uint8, no 255), ``Boundaries`` (20x1 cell of sparse
  masks) and ``CategoriesPresent``, ``img/<id>.jpg`` and ``{train,val}.txt``.

As in the real data every SBD image is also in ``JPEGImages`` and some SBD ids
are VOC train or VOC val ids, so the aug list arithmetic is exercised.

Scenes are easy to learn on purpose: a grey textured background (class 0)
with one to three discs, rectangles or polygons of five VOC classes, each
class with its own saturated colour, so a narrow FCN trained from scratch on
a CPU for a few minutes segments them well.
"""
import io
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import atomic_write, save_palette_png
from .sbd import IGNORE_INDEX, contours, sbd_mat_bytes, voc_palette
from .voc_aug import write_id_list

__all__ = ['DEMO_CLASSES', 'make_demo_dataset']

# VOC class index -> base RGB colour of its objects in the demo images.
DEMO_CLASSES: Dict[int, Tuple[int, int, int]] = {
    1: (215, 45, 45),  # aeroplane: red
    6: (235, 200, 35),  # bus: yellow
    8: (55, 175, 65),  # cat: green
    15: (50, 85, 225),  # person: blue
    19: (185, 60, 200),  # train: magenta
}

_MIN_SIZE, _MAX_SIZE = 96, 160  # image side range in pixels, both inclusive
_JPEG_QUALITY = 90


def _unique_ids(rng: np.random.Generator, count: int) -> List[str]:
    """Draw ``count`` distinct VOC-style ids such as ``2009_004271``."""
    # 5 years (2007..2011) x 10000 numbers each.
    codes = rng.choice(5 * 10000, size=count, replace=False)
    return [f'{2007 + int(c) // 10000}_{int(c) % 10000:06d}' for c in codes]


def _background(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """A grey, low-saturation texture: smooth blobs plus pixel noise."""
    coarse = rng.uniform(70, 170, size=(5, 5)).astype(np.float32)
    smooth = np.asarray(
        Image.fromarray(coarse).resize((int(width), int(height)),
                                       Image.Resampling.BICUBIC))
    tint = rng.uniform(-10, 10, size=3)
    image = smooth[..., None] + tint
    return image + rng.normal(0, 12, size=(height, width, 3))


def _shape_mask(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """A random disc, rectangle or polygon as an (H, W) bool mask."""
    size = rng.uniform(0.15, 0.32) * min(height, width)  # half extent
    cx = rng.uniform(size, width - size)
    cy = rng.uniform(size, height - size)
    canvas = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    kind = rng.integers(3)
    if kind == 0:
        rx, ry = size * rng.uniform(0.6, 1.0, size=2)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=1)
    elif kind == 1:
        hw, hh = size * rng.uniform(0.5, 1.0, size=2)
        draw.rectangle([cx - hw, cy - hh, cx + hw, cy + hh], fill=1)
    else:
        n = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
        radii = size * rng.uniform(0.6, 1.0, size=n)
        points = [(float(cx + r * np.cos(a)), float(cy + r * np.sin(a)))
                  for a, r in zip(angles, radii)]
        draw.polygon(points, fill=1)
    return np.asarray(canvas, dtype=bool)


def _make_scene(seed: int, index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Image (H, W, 3) uint8 and clean labels (H, W) uint8 of one scene."""
    rng = np.random.default_rng([seed, index])
    height, width = rng.integers(_MIN_SIZE, _MAX_SIZE + 1, size=2)
    image = _background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    classes = list(DEMO_CLASSES)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    for _ in range(int(rng.integers(1, 4))):
        cls = classes[int(rng.integers(len(classes)))]
        mask = _shape_mask(rng, height, width)
        # Brightness jitter, a soft shading gradient and pixel noise make the
        # colour of a class vary without overlapping another class.
        colour = np.asarray(DEMO_CLASSES[cls]) * rng.uniform(0.8, 1.1)
        gx, gy = rng.uniform(-20, 20, size=2)
        shaded = colour + (gx * xx + gy * yy)[..., None]
        shaded = shaded + rng.normal(0, 10, size=shaded.shape)
        image[mask] = shaded[mask]
        label[mask] = cls
    return np.clip(image, 0, 255).astype(np.uint8), label


def _write(path: str, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def make_demo_dataset(root: str,
                      *,
                      seed: int = 0,
                      num_voc_train: int = 40,
                      num_voc_val: int = 20,
                      num_sbd_train: int = 60,
                      num_sbd_val: int = 30,
                      overlap: int = 5) -> Dict[str, str]:
    """Write a synthetic VOC 2012 + SBD dataset under ``root``.

    SBD train takes ``overlap`` ids from VOC train and ``overlap`` from VOC
    val; SBD val takes another ``overlap`` of each; the other SBD ids are new.
    A shared id has one image and one scene in both datasets (VOC's label adds
    the 255 contour band). With the defaults, the aug list of the conversion
    has 70 ids and trainaug 110.

    Args:
        root (str): Output folder; created if needed, files are overwritten.
        seed (int): Random seed; the same seed gives byte-identical files.
            Defaults to 0.
        num_voc_train (int): Number of VOC train ids. Defaults to 40.
        num_voc_val (int): Number of VOC val ids. Defaults to 20.
        num_sbd_train (int): Number of SBD train ids. Defaults to 60.
        num_sbd_val (int): Number of SBD val ids. Defaults to 30.
        overlap (int): Ids each SBD split shares with each VOC split.
            Defaults to 5.

    Returns:
        dict[str, str]: ``root``, ``devkit`` (the ``VOCdevkit`` folder to pass
        to the conversion), ``voc2012`` and ``sbd`` (``benchmark_RELEASE``).

    Raises:
        ValueError: If a count is not positive or ``overlap`` does not fit.
    """
    counts = dict(
        num_voc_train=num_voc_train,
        num_voc_val=num_voc_val,
        num_sbd_train=num_sbd_train,
        num_sbd_val=num_sbd_val)
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f'{name} must be at least 1, got {value}')
    if overlap < 0 or 2 * overlap > min(counts.values()):
        raise ValueError(
            f'overlap={overlap} does not fit: each SBD split takes `overlap` '
            'ids from each VOC split, so 2 * overlap must be at most every '
            f'count ({counts}); lower overlap or raise the counts')

    rng = np.random.default_rng(seed)
    num_new_train = num_sbd_train - 2 * overlap
    num_new_val = num_sbd_val - 2 * overlap
    ids = _unique_ids(
        rng, num_voc_train + num_voc_val + num_new_train + num_new_val)
    voc_train, rest = ids[:num_voc_train], ids[num_voc_train:]
    voc_val, rest = rest[:num_voc_val], rest[num_voc_val:]
    new_train, new_val = rest[:num_new_train], rest[num_new_train:]
    sbd_train = (voc_train[:overlap] + voc_val[:overlap] + new_train)
    sbd_val = (
        voc_train[overlap:2 * overlap] + voc_val[overlap:2 * overlap] +
        new_val)
    voc_ids, sbd_ids = set(voc_train + voc_val), set(sbd_train + sbd_val)

    paths = dict(
        root=root,
        devkit=osp.join(root, 'VOCdevkit'),
        voc2012=osp.join(root, 'VOCdevkit', 'VOC2012'),
        sbd=osp.join(root, 'benchmark_RELEASE'))
    folders = dict(
        jpeg=osp.join(paths['voc2012'], 'JPEGImages'),
        voc_cls=osp.join(paths['voc2012'], 'SegmentationClass'),
        voc_lists=osp.join(paths['voc2012'], 'ImageSets', 'Segmentation'),
        sbd_cls=osp.join(paths['sbd'], 'dataset', 'cls'),
        sbd_img=osp.join(paths['sbd'], 'dataset', 'img'))
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)

    for index, image_id in enumerate(ids):
        image, label = _make_scene(seed, index)
        jpeg = io.BytesIO()
        Image.fromarray(image).save(
            jpeg, format='JPEG', quality=_JPEG_QUALITY)
        _write(osp.join(folders['jpeg'], f'{image_id}.jpg'), jpeg.getvalue())
        if image_id in voc_ids:
            voc_label = np.where(contours(label), IGNORE_INDEX, label)
            save_palette_png(
                voc_label.astype(np.uint8),
                osp.join(folders['voc_cls'], f'{image_id}.png'),
                voc_palette())
        if image_id in sbd_ids:
            _write(
                osp.join(folders['sbd_img'], f'{image_id}.jpg'),
                jpeg.getvalue())
            _write(
                osp.join(folders['sbd_cls'], f'{image_id}.mat'),
                sbd_mat_bytes(label))

    write_id_list(sorted(voc_train), osp.join(folders['voc_lists'],
                                              'train.txt'))
    write_id_list(sorted(voc_val), osp.join(folders['voc_lists'], 'val.txt'))
    write_id_list(
        sorted(sbd_train), osp.join(paths['sbd'], 'dataset', 'train.txt'))
    write_id_list(
        sorted(sbd_val), osp.join(paths['sbd'], 'dataset', 'val.txt'))
    return paths
