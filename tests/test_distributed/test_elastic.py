"""Elastic mode: a worker killed mid-run, torchrun restarts the group and
training resumes from the last checkpoint to the same weights."""
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from launch_helpers import (finish, free_port, launch_env, load_state_dict,
                            logged_scalars, start_script, worker_pid)


def _wait_for_checkpoint(work_dir: Path, name: str, process,
                         timeout: float = 240) -> None:
    last = work_dir / 'last_checkpoint'
    deadline = time.monotonic() + timeout
    while not (last.is_file() and last.read_text().strip().endswith(name)):
        assert process.poll() is None, 'training ended before the kill'
        assert time.monotonic() < deadline, f'no {name} in {timeout} s'
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_worker_resumes_to_the_same_weights(tmp_path, two_node_run,
                                                   deterministic_config,
                                                   demo_options):
    # The uninterrupted reference: two_node_run, the same 2 x batch 2 run
    # over 10 iterations with checkpoints at 5 and 10. Dropout is off in
    # the config: mmengine does not checkpoint the RNG state.
    work_dir = tmp_path / 'elastic'
    process = start_script(
        'dist_train.sh', deterministic_config, 2, '--work-dir', work_dir,
        '--cfg-options', *demo_options, 'train_cfg.max_iters=10',
        env=launch_env(MAX_RESTARTS=1, PORT=free_port()), cwd=tmp_path)
    try:
        _wait_for_checkpoint(work_dir, 'iter_5.pth', process)
        os.kill(worker_pid(process.pid, 1), signal.SIGKILL)
    except (AssertionError, LookupError):
        finish(process, timeout=1)  # stops the run; fails with its log
        raise
    output = finish(process)

    assert 'exitcode: -9' in output  # torchrun saw the kill
    assert 'resumed epoch: 0, iter: 5' in output
    expected = load_state_dict(two_node_run['work_dir'] / 'iter_10.pth')
    got = load_state_dict(work_dir / 'iter_10.pth')
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    reference, resumed = (logged_scalars(two_node_run['work_dir']),
                          logged_scalars(work_dir))
    for iteration in range(6, 11):
        assert resumed[iteration]['loss'] == reference[iteration]['loss']
