"""Fixtures for running tools/train.py and tools/test.py on the demo data."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'fcn8s_voc_aug_demo.py'


@pytest.fixture(scope='session')
def demo_options(demo_voc_root) -> list:
    """``--cfg-options`` that point the demo config at the generated data and
    keep runs small and single-process: no workers, 2 images a batch, a log
    line (and a scalars.json line) for every iteration, no validation."""
    options = [
        f'train_dataloader.dataset.datasets.{i}.data_root={demo_voc_root}'
        for i in range(2)
    ] + [f'{loader}.dataset.data_root={demo_voc_root}'
         for loader in ('val_dataloader', 'test_dataloader')]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return options + [
        'train_dataloader.batch_size=2',
        'train_cfg.val_begin=1000000',
        'default_hooks.logger.interval=1',
        'log_processor.window_size=1',
    ]


def _run_tool(tool: str, *args, cwd: Path,
              expect_success: bool = True) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>.py`` in a fresh interpreter, stdout and stderr
    merged into ``.stdout``; fail with its last lines if it should succeed
    and did not."""
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools' / f'{tool}.py'), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600)
    if expect_success:
        assert result.returncode == 0, result.stdout[-5000:]
    return result


@pytest.fixture(scope='session')
def run_tool():
    """``run_tool(tool, *args, cwd=..., expect_success=True)``: run a tool
    as a user would, see :func:`_run_tool`."""
    return _run_tool


@pytest.fixture(scope='session')
def demo_config() -> Path:
    return DEMO_CONFIG


@pytest.fixture(scope='session')
def trained_work_dir(tmp_path_factory, demo_options) -> Path:
    """A work dir where tools/train.py ran 2 iterations and saved
    ``iter_2.pth``, a checkpoint as mmengine's runner writes it."""
    work_dir = tmp_path_factory.mktemp('trained')
    _run_tool('train', DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
              *demo_options, 'train_cfg.max_iters=2',
              'default_hooks.checkpoint.interval=2', cwd=work_dir)
    return work_dir
