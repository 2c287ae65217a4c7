"""A checkpoint as tools/train.py writes it, for the test.py tests."""
from pathlib import Path

import pytest
from tool_runs import DEMO_CONFIG, run_tool


@pytest.fixture(scope='session')
def trained_work_dir(tmp_path_factory, demo_options) -> Path:
    """A work dir where tools/train.py ran 2 iterations and saved
    ``iter_2.pth``, a checkpoint as mmengine's runner writes it."""
    work_dir = tmp_path_factory.mktemp('trained')
    run_tool('train', DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
             *demo_options, 'train_cfg.max_iters=2',
             'default_hooks.checkpoint.interval=2', cwd=work_dir)
    return work_dir
