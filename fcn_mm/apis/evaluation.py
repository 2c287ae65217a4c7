"""mmseg's ``IoUMetric`` that also keeps a confusion matrix and per-class
results, for ``tools/test.py`` to save as JSON.

The matrix counts pixels in int64 with ``torch.bincount`` (rows: the label,
columns: the prediction; ignored pixels left out), so it is exact at any
dataset size; mmseg's ``tools/analysis_tools/confusion_matrix.py`` adds
``uint8`` images and overflows (open-mmlab/mmsegmentation#3583).
Importing this module registers the metric in mmseg's ``METRICS``.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmseg.registry import METRICS

from ..engine.outputs import AtomicIoUMetric

__all__ = ['ConfusionIoUMetric', 'class_report', 'confusion_matrix']


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor,
                     num_classes: int, ignore_index: int) -> torch.Tensor:
    """Pixel counts of (label, prediction) pairs.

    Args:
        pred (torch.Tensor): (H, W) predicted class indices.
        label (torch.Tensor): (H, W) labels; ``ignore_index`` is left out.
        num_classes (int): Number of classes.
        ignore_index (int): The label of pixels that are not counted.

    Returns:
        torch.Tensor: (num_classes, num_classes) int64, [label, prediction].

    Raises:
        ValueError: A label or prediction is outside 0..num_classes-1.
    """
    valid = label != ignore_index
    label, pred = label[valid].long(), pred[valid].long()
    for name, values in (('label', label), ('prediction', pred)):
        if values.numel() and (values.min() < 0
                               or values.max() >= num_classes):
            raise ValueError(
                f'a {name} value {int(values.max())} is outside the classes '
                f'0..{num_classes - 1}; check num_classes and the labels')
    return torch.bincount(
        label * num_classes + pred,
        minlength=num_classes**2).reshape(num_classes, num_classes).cpu()


def _percent(numerator: np.ndarray, denominator: np.ndarray) -> List:
    """100 * n / d per class; None (JSON null) where d is 0."""
    return [None if d == 0 else round(100 * float(n) / float(d), 4)
            for n, d in zip(numerator, denominator)]


def class_report(confusion: np.ndarray,
                 classes: Sequence[str]) -> Dict[str, object]:
    """Per-class IoU and accuracy (percent) and the matrix, JSON-ready.

    Args:
        confusion (np.ndarray): (C, C) pixel counts, [label, prediction].
        classes (Sequence[str]): The C class names.

    Returns:
        dict: ``classes``, ``IoU`` and ``Acc`` (null for a class that is
        neither labelled nor predicted, resp. not labelled), ``labelled`` and
        ``predicted`` pixel counts, ``aAcc``, and ``confusion_matrix`` with
        rows for labels and columns for predictions.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    hits = np.diag(confusion)
    labelled, predicted = confusion.sum(1), confusion.sum(0)
    return dict(
        classes=list(classes),
        IoU=_percent(hits, labelled + predicted - hits),
        Acc=_percent(hits, labelled),
        aAcc=_percent([hits.sum()], [labelled.sum()])[0],
        labelled=labelled.tolist(),
        predicted=predicted.tolist(),
        confusion_matrix=confusion.tolist(),
        confusion_matrix_axes='rows: label, columns: prediction')


@METRICS.register_module()
class ConfusionIoUMetric(AtomicIoUMetric):
    """``IoUMetric`` whose per-class results outlive the evaluation (and
    whose ``output_dir`` PNGs are written atomically).

    After ``evaluate``, :attr:`report` holds :func:`class_report` of the
    whole (all ranks') test set. Arguments are ``IoUMetric``'s.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.report: Optional[dict] = None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add each sample's confusion matrix to IoUMetric's results."""
        start = len(self.results)
        super().process(data_batch, data_samples)
        if self.format_only:
            return
        num_classes = len(self.dataset_meta['classes'])
        for i, sample in enumerate(data_samples, start):
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            self.results[i] = (*self.results[i], confusion_matrix(
                pred, label, num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """IoUMetric's summary; the per-class report goes to
        :attr:`report`."""
        if not self.format_only:
            total = sum(result[4] for result in results)
            self.report = class_report(total.numpy(),
                                       self.dataset_meta['classes'])
            results = [result[:4] for result in results]
        return super().compute_metrics(results)
