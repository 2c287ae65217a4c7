"""The label formats of PASCAL VOC and SBD: VOC's palette and SBD's
``cls/<id>.mat`` class masks (Hariharan et al., "Semantic Contours from
Inverse Detectors", ICCV 2011), read for :mod:`fcn_mm.datasets.voc_aug` and
written for the synthetic demo set.

SBD stores each image's labels as ``benchmark_RELEASE/dataset/cls/<id>.mat``,
a MAT-file with a ``GTcls`` struct: ``Segmentation`` (uint8 class indices,
no 255), ``Boundaries`` (a 20x1 cell of sparse per-class contour masks) and
``CategoriesPresent``.
"""
import io
from functools import lru_cache

import numpy as np
from scipy.io import loadmat, savemat
from scipy.sparse import csc_matrix

from ..errors import FcnMmError

__all__ = [
    'DatasetConversionError', 'IGNORE_INDEX', 'NUM_CLASSES', 'contours',
    'load_sbd_mask', 'sbd_mat_bytes', 'voc_palette'
]

NUM_CLASSES = 21  # background + 20 VOC object classes
IGNORE_INDEX = 255  # VOC's "void" label (object borders, difficult regions)


class DatasetConversionError(FcnMmError, ValueError):
    """Raised when the VOC or SBD input of a conversion is missing or bad."""


@lru_cache(maxsize=1)
def voc_palette() -> tuple:
    """The 256-colour palette of PASCAL VOC label PNGs, flattened RGB.

    Colours 0..20 are MMSegmentation's ``PascalVOCDataset.METAINFO['palette']``
    (what the toolbox shows for each class); colours 21..255 follow the VOC
    devkit's bit-interleaving colour map, so written files carry the same
    palette as the official ``SegmentationClass`` PNGs (255 = (224, 224, 192)).

    Returns:
        tuple[int]: 768 values, R, G, B for indices 0..255.
    """
    from mmseg.datasets.voc import PascalVOCDataset

    colours = [list(c) for c in PascalVOCDataset.METAINFO['palette']]
    for index in range(len(colours), 256):
        # VOC devkit rule: bits 0/1/2 of the index go, from the most
        # significant bit down, into R/G/B respectively.
        rgb, value = [0, 0, 0], index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        colours.append(rgb)
    return tuple(v for colour in colours for v in colour)


def load_sbd_mask(mat_path: str) -> np.ndarray:
    """Load the class mask of one SBD ``cls/<id>.mat`` file.

    Args:
        mat_path (str): Path of the ``.mat`` file.

    Returns:
        np.ndarray: (H, W) uint8 labels in 0..20 (255 tolerated).

    Raises:
        DatasetConversionError: If the file cannot be read, lacks
            ``GTcls.Segmentation`` or holds labels outside 0..20 and 255.
    """
    hint = 're-extract benchmark.tgz (the SBD archive) to replace it'
    try:
        data = loadmat(mat_path)
    # scipy raises ValueError, TypeError, OSError or MatReadError depending on
    # where the bytes are broken; all of them mean the same to the user.
    except Exception as err:
        raise DatasetConversionError(
            f'cannot read the SBD mask {mat_path} ({type(err).__name__}: '
            f'{err}); expected a MATLAB file with a GTcls struct; {hint}'
        ) from err
    gt = data.get('GTcls')
    names = getattr(getattr(gt, 'dtype', None), 'names', None) or ()
    if 'Segmentation' not in names or gt.size == 0:
        raise DatasetConversionError(
            f'{mat_path} has no GTcls.Segmentation field (found variables '
            f'{sorted(k for k in data if not k.startswith("__"))}); expected '
            f'an SBD dataset/cls file; {hint}')
    seg = np.asarray(gt['Segmentation'].flat[0])
    if seg.ndim != 2 or seg.size == 0 or not (
            np.issubdtype(seg.dtype, np.integer)
            or np.issubdtype(seg.dtype, np.bool_)):
        raise DatasetConversionError(
            f'{mat_path}: GTcls.Segmentation is a {seg.dtype} array of shape '
            f'{seg.shape}; expected a 2-D integer label map; {hint}')
    bad = (seg < 0) | ((seg >= NUM_CLASSES) & (seg != IGNORE_INDEX))
    if bad.any():
        values = np.unique(seg[bad])[:10].tolist()
        raise DatasetConversionError(
            f'{mat_path}: labels {values} are outside 0..{NUM_CLASSES - 1} '
            f'(and {IGNORE_INDEX}); expected PASCAL VOC class indices; {hint}')
    return seg.astype(np.uint8)


# scipy stamps the creation time into the 116-byte MAT-file header text; a
# fixed text keeps the files byte-identical for the same labels.
_MAT_HEADER = b'MATLAB 5.0 MAT-file, written by fcn_mm.datasets.sbd'


def contours(label: np.ndarray) -> np.ndarray:
    """Pixels with a differently labelled 8-neighbour: a 2 px wide band."""
    height, width = label.shape
    padded = np.pad(label, 1, mode='edge')
    edge = np.zeros(label.shape, bool)
    for dy in range(3):
        for dx in range(3):
            edge |= padded[dy:dy + height, dx:dx + width] != label
    return edge


def sbd_mat_bytes(label: np.ndarray) -> bytes:
    """Encode a clean label map as the bytes of an SBD ``cls/<id>.mat`` file.

    Args:
        label (np.ndarray): (H, W) uint8 class indices 0..20, no 255.

    Returns:
        bytes: A MAT-file with ``GTcls.Segmentation``, ``GTcls.Boundaries``
        (one sparse contour mask per object class) and
        ``GTcls.CategoriesPresent``, byte-identical for equal labels.
    """
    edges = contours(label)
    boundaries = np.empty((NUM_CLASSES - 1, 1), dtype=object)
    for cls in range(1, NUM_CLASSES):
        boundaries[cls - 1, 0] = csc_matrix(edges & (label == cls))
    present = np.unique(label)
    gt = dict(
        Segmentation=label,
        Boundaries=boundaries,
        CategoriesPresent=present[present > 0].astype(np.uint8).reshape(-1, 1))
    buffer = io.BytesIO()
    savemat(buffer, dict(GTcls=gt), do_compression=True)
    data = bytearray(buffer.getvalue())
    data[:116] = _MAT_HEADER.ljust(116)
    return bytes(data)
