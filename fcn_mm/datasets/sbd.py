"""The Semantic Boundaries Dataset's label files (Hariharan et al., ICCV 2011).

SBD stores each image's labels as ``benchmark_RELEASE/dataset/cls/<id>.mat``,
a MAT-file with a ``GTcls`` struct: ``Segmentation`` (uint8 class indices,
no 255), ``Boundaries`` (a 20x1 cell of sparse per-class contour masks) and
``CategoriesPresent``.
"""
import io

import numpy as np
from scipy.io import savemat
from scipy.sparse import csc_matrix

from .voc_aug import NUM_CLASSES

__all__ = ['contours', 'sbd_mat_bytes']

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
