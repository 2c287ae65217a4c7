"""Own data end to end, as README's "Train on your own data" does it: real
VOC photos remapped to 4 classes in the example config's layout, trained with
configs/custom/ (shrunk to a few CPU iterations) after a look at its
crops, tested and predicted; and binary masks saved as 0/255, refused
before training until the config maps 255 to class 1."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tool_runs import REAL_VOC as VOC
from tool_runs import REPO, logged_scalars

EXAMPLE = REPO / 'configs/custom/fcn8s_vgg16_custom-dataset.py'
# VOC class -> 1 animal (bird, cat, cow, dog, horse, sheep), 2 person,
# 3 any other object; 0 background and 255 (ignore) stay.
REMAP = np.zeros(256, np.uint8)
REMAP[1:21] = 3
REMAP[[3, 8, 10, 12, 13, 17]] = 1
REMAP[15] = 2
REMAP[255] = 255
# The example config with a quarter-width VGG16 learning from scratch (no
# ImageNet file in tests) on 96x96 crops, like configs/demo.
TINY = '''
_base_ = '{example}'
model = dict(
    data_preprocessor=dict(size=(96, 96)),
    backbone=dict(stage_channels=(16, 32, 64, 128, 128), fc_channels=256,
                  init_cfg=None),
    decode_head=dict(in_channels=(64, 128, 256)))
train_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=(96, 96)), dict(type='PackSegInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline),
                        **loader)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline), **loader)
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
log_processor = dict(window_size=1)
'''


def make_own_dataset(root: Path, remap: np.ndarray = REMAP) -> int:
    """images/, labels/ (4 classes), splits/{train,val}.txt from the real
    VOC samples at a quarter of their size; returns the labelled pixels of
    the val split."""
    ids = sorted(p.stem for p in (VOC / 'JPEGImages').glob('*.jpg'))
    for folder in ('images', 'labels', 'splits'):
        (root / folder).mkdir(parents=True)
    labelled = 0
    for i, image_id in enumerate(ids):
        image = Image.open(VOC / 'JPEGImages' / f'{image_id}.jpg')
        size = (image.width // 4, image.height // 4)
        image.resize(size, Image.BILINEAR).save(
            root / 'images' / f'{image_id}.jpg')
        label = Image.open(VOC / 'SegmentationClass' / f'{image_id}.png')
        label = remap[np.array(label.resize(size, Image.NEAREST))]
        Image.fromarray(label).save(root / 'labels' / f'{image_id}.png')
        if i >= 10:
            labelled += int((label != 255).sum())
    (root / 'splits/train.txt').write_text('\n'.join(ids[:10]) + '\n')
    (root / 'splits/val.txt').write_text('\n'.join(ids[10:]) + '\n')
    return labelled


@pytest.mark.slow
def test_own_dataset_trains_tests_and_predicts(tmp_path, run_tool):
    labelled = make_own_dataset(tmp_path / 'data' / 'my_dataset')
    config = tmp_path / 'tiny_custom.py'
    config.write_text(TINY.format(example=EXAMPLE))

    # Look at what training sees: the crops with the 4 classes drawn on.
    output = run_tool('analysis_tools/browse_dataset', config, '--limit', '3',
                      cwd=tmp_path).stdout
    assert '3 samples -> work_dirs/browse/tiny_custom/train' in output
    assert len(list(
        (tmp_path / 'work_dirs/browse/tiny_custom/train').glob('*.png'))) == 3

    # max_iters from the command line: the poly LR must end there too.
    run_tool('train', config, '--work-dir', 'work', '--cfg-options',
             'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
             cwd=tmp_path)
    lr = {i: record['lr'] for i, record in
          logged_scalars(tmp_path / 'work').items()}
    base, eta_min = 0.01, 1e-4  # configs/_base_/schedules/schedule_20k.py
    # Iteration i trains after i - 1 steps; mmengine's PolyLR reaches eta_min
    # at step end - 1, the last iteration (20000 - 1 without the fix).
    for i in range(1, 5):
        expected = eta_min + (base - eta_min) * (1 - (i - 1) / 3)**0.9
        assert lr[i] == pytest.approx(expected, rel=1e-4)
    assert lr[4] == pytest.approx(eta_min)

    output = run_tool('test', config, 'work/iter_4.pth', '--work-dir',
                      'work', cwd=tmp_path).stdout
    [report_path] = (tmp_path / 'work').glob('*/per_class.json')
    assert 'per-class IoU/Acc and confusion matrix: ' in output
    report = json.loads(report_path.read_text())
    assert report['classes'] == ['background', 'animal', 'person', 'object']
    assert np.array(report['confusion_matrix']).sum() == labelled

    output = run_tool('predict', config, 'work/iter_4.pth',
                      'data/my_dataset/images', '--save-index',
                      cwd=tmp_path).stdout
    assert '15 images -> predictions' in output
    overlays = sorted((tmp_path / 'predictions').glob('*_overlay.png'))
    assert len(overlays) == 15
    pred = np.array(Image.open(tmp_path / 'predictions' /
                               overlays[0].name.replace('overlay', 'pred')))
    assert set(np.unique(pred)) <= {0, 1, 2, 3}


# Binary masks as most tools save them: every VOC object 255, the rest 0.
BINARY = np.zeros(256, np.uint8)
BINARY[1:21] = 255
BINARY_CONFIG = '''
_base_ = '{tiny}'
dataset = dict(metainfo=dict(classes=('background', 'object'),
                             palette=[[0, 0, 0], [255, 255, 255]]){fix})
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
model = dict(decode_head=dict(num_classes=2))
'''


@pytest.mark.slow
def test_binary_masks_saved_as_0_255_train_with_label_map(tmp_path, run_tool):
    root = tmp_path / 'data' / 'my_dataset'
    make_own_dataset(root, remap=BINARY)
    (tmp_path / 'tiny_custom.py').write_text(TINY.format(example=EXAMPLE))
    for name, fix in (('masks', ''), ('masks_mapped', ', label_map={255: 1}')):
        (tmp_path / f'{name}.py').write_text(BINARY_CONFIG.format(
            tiny=tmp_path / 'tiny_custom.py', fix=fix))
    options = ('--cfg-options', 'train_cfg.max_iters=2',
               'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2')

    # Without the fix every object pixel would be ignored: refused at start.
    result = run_tool('train', 'masks.py', '--work-dir', 'refused', *options,
                      cwd=tmp_path, expect_success=False)
    assert result.returncode != 0
    assert re.search(r'the labels hold only 0 and 255 in all 1?[05] label '
                     r'files checked \(data/my_dataset/labels/\w+\.png',
                     result.stdout)
    assert 'add label_map={255: 1} to the dataset' in result.stdout
    assert not list((tmp_path / 'refused').glob('*.pth'))

    run_tool('train', 'masks_mapped.py', '--work-dir', 'work', *options,
             cwd=tmp_path)
    output = run_tool('test', 'masks_mapped.py', 'work/iter_2.pth',
                      '--work-dir', 'work', cwd=tmp_path).stdout
    assert 'nan' not in output
    [report_path] = (tmp_path / 'work').glob('*/per_class.json')
    report = json.loads(report_path.read_text())
    masks = [np.array(Image.open(p)) for p in sorted(
        (root / 'labels').glob('*.png'))[10:]]  # the val split
    assert report['labelled'] == [sum(int((m == 0).sum()) for m in masks),
                                  sum(int((m == 255).sum()) for m in masks)]
    assert None not in report['IoU'] and None not in report['Acc']


@pytest.mark.slow  # resolving the mmseg:: bases takes 13 s on a busy machine
def test_without_split_files_every_image_is_used(tmp_path, mmseg_scope):
    # The example with its ann_file lines taken out: no VOC split file or
    # suffix stays behind (they did: ImageSets/Segmentation/val.txt).
    from mmengine.config import Config
    from mmseg.registry import DATASETS
    root = tmp_path / 'data' / 'my_dataset'
    make_own_dataset(root)
    config = tmp_path / 'no_splits.py'
    config.write_text(re.sub(r"ann_file='splits/\w+\.txt', ", '',
                             EXAMPLE.read_text()).replace(
                                 "'../fcn8s_voc_aug.py'",
                                 repr(str(REPO / 'configs/fcn8s_voc_aug.py'))))
    cfg = Config.fromfile(config)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        assert 'ann_file' not in loader.dataset
        loader.dataset.data_root = str(root)
        dataset = DATASETS.build(loader.dataset)
        assert len(dataset) == 15 == len(list((root / 'images').iterdir()))
