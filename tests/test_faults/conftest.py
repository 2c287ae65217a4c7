"""Fixtures for the fault-injection tests: the deterministic demo run, a
small tmpfs for a full disk, and training runs that can be killed."""
import os
import subprocess
from pathlib import Path

import pytest
from fault_helpers import DETERMINISTIC_CONFIG


@pytest.fixture(scope='session')
def fault_options(demo_options) -> list:
    """The deterministic demo run (no random augmentation, no dropout, SGD),
    with a checkpoint every iteration and only the newest kept."""
    return demo_options + [
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=1'
    ]


@pytest.fixture(scope='session')
def deterministic_config() -> Path:
    return DETERMINISTIC_CONFIG


@pytest.fixture(scope='session')
def three_checkpoints(tmp_path_factory, deterministic_config, fault_options,
                      run_tool):
    """A work dir with iter_1.pth, iter_2.pth and iter_3.pth (all kept)."""
    work_dir = tmp_path_factory.mktemp('three')
    run_tool('train', deterministic_config, '--work-dir', work_dir,
             '--cfg-options', *fault_options, 'train_cfg.max_iters=3',
             'default_hooks.checkpoint.max_keep_ckpts=-1', cwd=work_dir)
    return work_dir


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(megabytes)``: a folder on a tmpfs of that size, unmounted
    after the test; skipped where mounting is not allowed."""
    mounts = []

    def mount(megabytes: float) -> Path:
        folder = tmp_path / f'disk{len(mounts)}'
        folder.mkdir()
        if os.geteuid() != 0:
            pytest.skip('a full disk needs a tmpfs mount, which needs root')
        done = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', f'size={int(megabytes * 1024)}k',
             'tmpfs', str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f'mounting a tmpfs is not allowed here: '
                        f'{done.stderr.strip()}')
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(['umount', '-l', str(folder)], check=False)
