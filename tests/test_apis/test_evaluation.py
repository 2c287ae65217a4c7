"""The confusion matrix and per-class report of tools/test.py, checked
against numpy on real VOC labels, and its plot."""
import json

import numpy as np
import pytest
import torch
from mmseg.evaluation import IoUMetric
from PIL import Image
from tool_runs import REAL_VOC as VOC

from fcn_mm.apis.analysis import plot_confusion_matrix
from fcn_mm.apis.evaluation import (ConfusionIoUMetric, class_report,
                                    confusion_matrix)

NUM_CLASSES = 21


def _real_pairs():
    """(prediction, label) pairs: each 513x513 label is 'predicted' by the
    next image's label, a real class mix that differs a lot."""
    labels = [np.array(Image.open(p)) for p in
              sorted((VOC / 'SegmentationClass').glob('val513_*.png'))]
    preds = [np.where(label == 255, 0, label) for label in
             labels[1:] + labels[:1]]
    return list(zip(preds, labels))


def _numpy_confusion(pairs):
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for pred, label in pairs:
        valid = label != 255
        np.add.at(confusion, (label[valid], pred[valid]), 1)
    return confusion


def test_metric_report_equals_numpy_on_real_labels():
    pairs = _real_pairs()
    samples = [dict(pred_sem_seg=dict(data=torch.from_numpy(p)[None]),
                    gt_sem_seg=dict(data=torch.from_numpy(label)[None]))
               for p, label in pairs]
    meta = dict(classes=[f'c{i}' for i in range(NUM_CLASSES)])
    ours, mmseg = ConfusionIoUMetric(), IoUMetric()
    for metric in (ours, mmseg):
        metric.dataset_meta = meta
        metric.process({}, samples)
    ours_summary = ours.evaluate(len(samples))
    assert ours_summary == mmseg.evaluate(len(samples))

    expected = _numpy_confusion(pairs)
    assert expected.sum() > 255 * 255  # counts far beyond uint8 and uint16
    assert ours.report['confusion_matrix'] == expected.tolist()
    hits, rows, cols = np.diag(expected), expected.sum(1), expected.sum(0)
    for c in range(NUM_CLASSES):
        union = rows[c] + cols[c] - hits[c]
        iou = ours.report['IoU'][c]
        assert (iou is None) == (union == 0)
        if union:
            assert iou == pytest.approx(100 * hits[c] / union, abs=1e-4)
    assert ours.report['aAcc'] == pytest.approx(
        100 * hits.sum() / rows.sum(), abs=1e-4)
    assert ours_summary['aAcc'] == pytest.approx(ours.report['aAcc'],
                                                 abs=0.01)


def test_confusion_matrix_refuses_values_outside_the_classes():
    label = torch.tensor([[0, 1], [255, 7]])
    with pytest.raises(ValueError, match='label value 7 is outside the '
                       'classes 0..4'):
        confusion_matrix(torch.zeros(2, 2), label, 5, 255)


def test_plot_matches_the_row_normalised_matrix(tmp_path):
    confusion = _numpy_confusion(_real_pairs())
    report = class_report(confusion, [f'c{i}' for i in range(NUM_CLASSES)])
    json.dumps(report)  # JSON-ready: no numpy types, None for NaN
    shown = plot_confusion_matrix(report, str(tmp_path / 'cm.png'))
    rows = confusion.sum(1, keepdims=True)
    expected = np.divide(100. * confusion, rows, where=rows > 0,
                         out=np.zeros(confusion.shape))
    np.testing.assert_allclose(shown, expected)
    image = Image.open(tmp_path / 'cm.png')
    assert image.format == 'PNG' and min(image.size) > 300
