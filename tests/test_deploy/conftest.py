"""A demo FCN-8s trained long enough to segment, shared by the deploy tests
that compare backends and precisions on real predictions."""
from pathlib import Path

import pytest
from tool_runs import DEMO_CONFIG, REAL_VOC, run_tool

TRAIN_ITERS = 80


@pytest.fixture(scope='session')
def demo_checkpoint(tmp_path_factory, demo_options) -> Path:
    """``iter_80.pth`` of tools/train.py on the synthetic VOC set (8 images
    a batch, as the demo): past mIoU 50 on the demo val set, so its labels
    are no accident of a constant prediction."""
    work_dir = tmp_path_factory.mktemp('deploy_trained')
    run_tool('train', DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
             *demo_options, 'train_dataloader.batch_size=8',
             f'train_cfg.max_iters={TRAIN_ITERS}',
             f'default_hooks.checkpoint.interval={TRAIN_ITERS}',
             'default_hooks.logger.interval=20', cwd=work_dir)
    return work_dir / f'iter_{TRAIN_ITERS}.pth'


@pytest.fixture(scope='session')
def real_voc_options() -> list:
    """``--cfg-options`` that test on the real VOC val samples."""
    return [f'test_dataloader.dataset.data_root={REAL_VOC}',
            'test_dataloader.dataset.data_prefix.seg_map_path='
            'SegmentationClass']
