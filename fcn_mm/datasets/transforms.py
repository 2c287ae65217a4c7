"""A pipeline check that names the files when a sample cannot train.

A label PNG with values outside the classes otherwise fails deep in the loss
(``Target 30 is out of bounds``), an RGB label PNG (colours instead of class
indices) with a shape error, and a label whose size differs from its image
trains on misaligned crops until ``stack expects each tensor to be equal
size``, and a label 1 pixel high or wide, squeezed by mmseg, with ``shape
()``; none of them names a file.
"""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Raise, naming the files, on a label map the model cannot learn from.

    Goes right after ``LoadAnnotations`` (so after ``reduce_zero_label``);
    without a loaded label (inference) it passes the results through. The
    class count comes from the dataset: fcn_mm's checked datasets
    (:mod:`fcn_mm.datasets.checked`) put ``num_classes``, the length of their
    ``metainfo['classes']``, into every sample.

    Args:
        num_classes (int, optional): Classes of the dataset; valid labels are
            0..num_classes-1 and ``ignore_index``. Defaults to None: the
            dataset's count. Given, it must equal the dataset's count.
        ignore_index (int): The label the loss ignores. Defaults to 255.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _class_count(self, results: dict, path: str) -> int:
        dataset_count = results.get('num_classes')
        if (self.num_classes is not None and dataset_count is not None
                and self.num_classes != dataset_count):
            raise ValueError(
                f'{path}: CheckSegLabels(num_classes={self.num_classes}) but '
                f'the dataset has {dataset_count} classes; remove num_classes '
                'from CheckSegLabels in the pipeline (it then follows the '
                'dataset) or give the matching count')
        count = self.num_classes or dataset_count
        if count is None:
            raise ValueError(
                f'{path}: CheckSegLabels does not know the class count; use '
                "one of fcn_mm's checked dataset types (CheckedPascalVOC"
                'Dataset, CheckedADE20KDataset, CheckedBaseSegDataset), which '
                'pass it on, or set CheckSegLabels(num_classes=N)')
        return count

    def transform(self, results: dict) -> dict:
        if 'gt_seg_map' not in results:
            # Inference on unlabelled images: mmseg's inference_model drops
            # LoadAnnotations from the test pipeline and keeps the rest.
            return results
        seg = results['gt_seg_map']
        path = results.get('seg_map_path', '<label map>')
        num_classes = self._class_count(results, path)
        found = (f'{path}: the label map has shape {seg.shape}, expected '
                 '(H, W) class indices; ')
        if seg.ndim < 2:
            raise ValueError(
                f"{found}mmseg's LoadAnnotations drops dimensions of size 1 "
                '(np.squeeze), so a label 1 pixel high or wide loses one: '
                'labels and their images must be at least 2x2 pixels')
        if seg.ndim != 2:
            raise ValueError(
                f'{found}an RGB label image must be converted to a '
                'single-channel (palette or grayscale) PNG of class indices')
        # Labels load at the image's original size (test pipelines resize the
        # image first) or follow it through the transforms since loading.
        sizes = {tuple(results[key][:2]) for key in ('ori_shape', 'img_shape')
                 if key in results}
        if sizes and seg.shape not in sizes:
            height, width = results.get('ori_shape', results.get('img_shape'))
            raise ValueError(
                f'{path}: the label map is {seg.shape[1]}x{seg.shape[0]} '
                f'(WxH) but its image {results.get("img_path")} is '
                f'{width}x{height}; a '
                'label must have its image\'s size, pixel for pixel: fix or '
                'remove this pair')
        bad = (seg >= num_classes) & (seg != self.ignore_index)
        if bad.any():
            values = np.unique(seg[bad])[:10].tolist()
            raise ValueError(
                f'{path}: label values {values} are outside the classes '
                f'0..{num_classes - 1} (the dataset has {num_classes} '
                f'classes; the ignore index is {self.ignore_index}); fix the '
                'labels, or set the dataset classes and '
                'model.decode_head.num_classes to match them')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
