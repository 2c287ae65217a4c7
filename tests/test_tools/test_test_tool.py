"""tools/test.py end to end: its metrics are the confusion-matrix ones."""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from fcn_mm.engine import load_from_local_weights_only

NUM_CLASSES = 21
IGNORE_INDEX = 255


class _Foreign:
    """Stands for any object a checkpoint should not carry."""


def _scrambled_checkpoint(trained_work_dir: Path, path: Path) -> Path:
    """The trained checkpoint with a random classifier (a fixed seed), so
    that the predictions hold many classes, not only the background a
    2-iteration model predicts; everything else as mmengine wrote it."""
    checkpoint = load_from_local_weights_only(
        str(trained_work_dir / 'iter_2.pth'))
    weight = checkpoint['state_dict']['decode_head.score_fr.weight']
    generator = torch.Generator().manual_seed(0)
    weight.copy_(torch.randn(weight.shape, generator=generator))
    torch.save(checkpoint, path)
    return path


def _metrics_from_pngs(pred_dir: Path, voc_root: Path) -> dict:
    """aAcc, mIoU and mAcc in percent from prediction and label PNGs, by a
    confusion matrix; classes absent from both sides are left out of the
    means, pixels labelled 255 are not counted."""
    ids = (voc_root / 'ImageSets/Segmentation/val.txt').read_text().split()
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for image_id in ids:
        label = np.array(
            Image.open(voc_root / 'SegmentationClass' / f'{image_id}.png'))
        pred = np.array(Image.open(pred_dir / f'{image_id}.png'))
        assert pred.shape == label.shape, image_id
        valid = label != IGNORE_INDEX
        confusion += np.bincount(
            label[valid].astype(np.int64) * NUM_CLASSES + pred[valid],
            minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)
    hits = np.diag(confusion).astype(np.float64)
    labelled, predicted = confusion.sum(1), confusion.sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = hits / (labelled + predicted - hits)
        acc = hits / labelled
    return dict(
        aAcc=100 * hits.sum() / labelled.sum(),
        mIoU=100 * np.nanmean(iou),
        mAcc=100 * np.nanmean(acc),
        num_predicted_classes=int((predicted > 0).sum()),
        confusion=confusion, iou=iou)


def test_reported_metrics_equal_a_confusion_matrix(tmp_path, trained_work_dir,
                                                   run_tool, demo_config,
                                                   demo_options, demo_voc_root,
                                                   printed_summary):
    checkpoint = _scrambled_checkpoint(trained_work_dir, tmp_path / 'c.pth')
    out, show, work = tmp_path / 'out', tmp_path / 'show', tmp_path / 'work'
    output = run_tool('test', demo_config, checkpoint, '--work-dir', work,
                      '--out', out, '--show-dir', show, '--cfg-options',
                      *demo_options, cwd=tmp_path).stdout

    expected = _metrics_from_pngs(out, Path(demo_voc_root))
    assert expected['num_predicted_classes'] >= 5
    printed = printed_summary(output)
    [json_path] = [p for p in work.glob('*/*.json')
                   if p.name != 'per_class.json']
    logged = json.loads(json_path.read_text())
    for name in ('aAcc', 'mIoU', 'mAcc'):
        # mmseg rounds percentages to 2 decimals, from float32 sums.
        assert printed[name] == pytest.approx(expected[name], abs=0.0051)
        assert logged[name] == pytest.approx(expected[name], abs=0.0051)
    # The runner's logger puts mmseg's per-class table on the console.
    assert 'per class results:' in output
    assert re.search(r'\|\s+background\s+\|\s+[\d.]+\s+\|', output)
    # per_class.json beside the summary: the same matrix, exactly.
    report = json.loads((json_path.parent / 'per_class.json').read_text())
    assert report['confusion_matrix'] == expected['confusion'].tolist()
    for ours, theirs in zip(report['IoU'], expected['iou']):
        assert (ours is None and np.isnan(theirs)) or \
            ours == pytest.approx(100 * theirs, abs=1e-4)
    assert f'per-class IoU/Acc and confusion matrix: {json_path.parent}' \
        in output
    # Progress with an ETA, about 20 lines, then no config dump.
    assert re.search(r'Iter\(test\) \[\s*\d+/\d+\]\s+eta: ', output)
    assert 'Config:' not in output and 'System environment' not in output
    assert 'Distributed training: False  GPU number: 1' in output
    assert 'Config:' in next(json_path.parent.glob('*.log')).read_text()
    # --out and --show-dir wrote one file per test image.
    num_images = len(
        (Path(demo_voc_root) /
         'ImageSets/Segmentation/val.txt').read_text().split())
    assert len(list(out.glob('*.png'))) == num_images
    assert len(list(show.glob('vis_data/vis_image/*.png'))) == num_images


def test_tta_runs_every_scale_and_flip(tmp_path, trained_work_dir, run_tool,
                                       demo_config, demo_options,
                                       printed_summary):
    output = run_tool('test', demo_config, trained_work_dir / 'iter_2.pth',
                      '--tta', '--work-dir', tmp_path, '--cfg-options',
                      *demo_options, 'test_dataloader.dataset.indices=2',
                      cwd=tmp_path).stdout
    assert 'Iter(test) [2/2]' in output
    assert set(printed_summary(output)) == {'aAcc', 'mIoU', 'mAcc'}
    ran = Config.fromfile(tmp_path / demo_config.name)
    assert ran.model.type == 'SegTTAModel'
    assert ran.model.module.backbone.type == 'FCNVGG16'
    assert ran.test_dataloader.dataset.pipeline[1].type == 'TestTimeAug'


def test_refuses_a_checkpoint_with_a_foreign_object(tmp_path, run_tool,
                                                    demo_config, demo_options):
    checkpoint = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {}, 'meta': {'note': _Foreign()}}, checkpoint)
    result = run_tool('test', demo_config, checkpoint, '--work-dir', tmp_path,
                      '--cfg-options', *demo_options, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode != 0
    assert (f'Refused to load checkpoint {checkpoint}: it holds the object '
            f'{_Foreign.__module__}._Foreign') in result.stdout


def test_a_label_outside_the_classes_stops_with_its_file(
        tmp_path, trained_work_dir, run_tool, demo_config, demo_options,
        demo_voc_root):
    voc = tmp_path / 'VOC2012'
    shutil.copytree(demo_voc_root, voc)
    first_val = (voc / 'ImageSets/Segmentation/val.txt').read_text().split()[0]
    bad = voc / 'SegmentationClass' / f'{first_val}.png'
    label = np.array(Image.open(bad))
    label[0, 0] = 37
    Image.fromarray(label).save(bad)  # a grayscale PNG, as a user might
    options = [o.replace(str(demo_voc_root), str(voc)) for o in demo_options]
    result = run_tool('test', demo_config, trained_work_dir / 'iter_2.pth',
                      '--work-dir', tmp_path / 'work', '--cfg-options',
                      *options, cwd=tmp_path, expect_success=False)
    assert result.returncode != 0
    assert f'{bad}: label values [37] are outside the classes 0..20' \
        in result.stdout
