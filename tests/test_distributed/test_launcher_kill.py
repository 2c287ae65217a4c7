"""Killing torchrun ends its workers: tools/dist_run.sh execs torchrun, and
fcn_mm.engine.distributed.end_with_launcher has the kernel signal each worker
when the agent dies, even by SIGKILL (issue 9: both workers trained on as
orphans)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from launch_helpers import (REPO, finish, free_port, is_running, launch_env,
                            logged_scalars, start_script, worker_pid)

# One import, then each case in a forked child (the death signal is per
# process), as torchrun starts a worker: the child sets up and prints what the
# kernel holds for it (PR_GET_PDEATHSIG = 2), or why it refused.
_PROBE = '''
import ctypes, os
from fcn_mm.engine.distributed import end_with_launcher
for launcher in ('parent', '1', None):
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        continue
    os.environ.pop('TORCHELASTIC_RUN_ID', None)
    if launcher:
        os.environ['TORCHELASTIC_RUN_ID'] = 'run'
        os.environ['FCN_MM_LAUNCHER_PID'] = (
            str(os.getppid()) if launcher == 'parent' else launcher)
    try:
        end_with_launcher()
    except RuntimeError as error:
        print(launcher, 'refused:', error, flush=True)
        os._exit(1)
    sig = ctypes.c_int()
    ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)
    print(launcher, 'PDEATHSIG', sig.value, flush=True)
    os._exit(0)
'''


def test_a_torchrun_worker_asks_for_sigterm_when_its_agent_dies():
    result = subprocess.run([sys.executable, '-c', _PROBE],
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f'parent PDEATHSIG {int(signal.SIGTERM)}',
        # The agent died before the worker asked: nothing would signal it.
        '1 refused: torchrun (PID 1) that started this worker has exited; '
        'stopping instead of training without it. Start the run again.',
        'None PDEATHSIG 0',  # outside torchrun nothing changes
    ]


@pytest.mark.slow
def test_sigkill_of_torchrun_ends_both_workers(tmp_path, deterministic_config,
                                               demo_options):
    work_dir = tmp_path / 'run'
    process = start_script(
        'dist_train.sh', deterministic_config, 2, '--work-dir', work_dir,
        '--cfg-options', *demo_options, 'train_cfg.max_iters=100000',
        env=launch_env(PORT=free_port()), cwd=tmp_path)
    workers = []
    try:
        deadline = time.monotonic() + 240
        while len(logged_scalars(work_dir)) < 2:  # training, not starting
            assert process.poll() is None, 'training ended before the kill'
            assert time.monotonic() < deadline, 'no iteration in 240 s'
            time.sleep(0.1)
        workers = [worker_pid(process.pid, rank) for rank in (0, 1)]
        assert all(map(is_running, workers))
        os.kill(process.pid, signal.SIGKILL)  # the agent: exec kept its pid
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(map(is_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [pid for pid in workers if is_running(pid)]
    finally:
        for pid in workers:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            finish(process, timeout=1)
    assert process.returncode == -signal.SIGKILL
    assert not survivors, f'workers {survivors} outlived torchrun by 10 s'
