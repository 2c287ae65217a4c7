"""A pipeline check that names the label file when its values cannot train.

A label PNG with values outside the classes otherwise fails deep in the loss
(``Target 30 is out of bounds``), and an RGB label PNG (colours instead of
class indices) with a shape error, neither naming the file.
"""
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Raise, naming the file, on a label map the model cannot learn from.

    Goes right after ``LoadAnnotations`` (so after ``reduce_zero_label``);
    without a loaded label (inference) it passes the results through.

    Args:
        num_classes (int): Classes of the dataset; valid labels are
            0..num_classes-1 and ``ignore_index``.
        ignore_index (int): The label the loss ignores. Defaults to 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        if 'gt_seg_map' not in results:
            # Inference on unlabelled images: mmseg's inference_model drops
            # LoadAnnotations from the test pipeline and keeps the rest.
            return results
        seg = results['gt_seg_map']
        path = results.get('seg_map_path', '<label map>')
        if seg.ndim != 2:
            raise ValueError(
                f'{path}: the label map has shape {seg.shape}, expected (H, W) '
                'class indices; an RGB label image must be converted to a '
                'single-channel (palette or grayscale) PNG of class indices')
        bad = (seg >= self.num_classes) & (seg != self.ignore_index)
        if bad.any():
            values = np.unique(seg[bad])[:10].tolist()
            raise ValueError(
                f'{path}: label values {values} are outside the classes '
                f'0..{self.num_classes - 1} (and the ignore index '
                f'{self.ignore_index}); fix the labels, or set the dataset '
                'classes and model.decode_head.num_classes to match them')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
