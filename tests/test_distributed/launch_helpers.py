"""Helpers for launching the demo FCN-8s on CPU (gloo) from tests.

Every run talks to 127.0.0.1 only, and every wait has a timeout: a run that
hangs is killed with every process under it and fails the test.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from fcn_mm.engine import load_from_local_weights_only
from tool_runs import logged_scalars  # noqa: F401  (re-exported for tests)

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
DETERMINISTIC_CONFIG = (Path(__file__).parent / 'configs' /
                        'fcn8s_demo_deterministic.py')
RUN_TIMEOUT = 300  # seconds for one launch; a few iterations take ~20 s


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def launch_env(**variables) -> dict:
    """The environment for a launch script: one thread per process (the
    machine has 2 cores), the master on loopback, plus ``variables``."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MASTER_ADDR='127.0.0.1')
    env.update({name: str(value) for name, value in variables.items()})
    return env


def start_script(script: str, *args, env: dict,
                 cwd: Path) -> subprocess.Popen:
    """Start ``tools/<script>``, stdout and stderr into a temporary file (a
    pipe nobody reads while the test polls would stall the run)."""
    log = tempfile.TemporaryFile(mode='w+')
    process = subprocess.Popen(['bash', str(REPO / 'tools' / script),
                                *map(str, args)],
                               cwd=cwd,
                               env=env,
                               stdout=log,
                               stderr=subprocess.STDOUT,
                               text=True)
    process.log = log
    return process


def descendants(pid: int) -> list:
    """Pids of the processes under ``pid``, children first. torchrun starts
    each worker in a session of its own, so a process group kill misses
    them."""
    found = []
    for task in Path(f'/proc/{pid}/task').glob('*'):
        try:
            children = (task / 'children').read_text().split()
        except OSError:  # the task ended meanwhile
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def worker_pid(agent_pid: int, rank: int) -> int:
    """The pid of torchrun's worker of ``rank``, found by its environment."""
    for pid in descendants(agent_pid):
        try:
            environ = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
        except OSError:  # ended meanwhile
            continue
        if f'RANK={rank}'.encode() in environ:
            return pid
    raise LookupError(f'torchrun {agent_pid} has no worker of rank {rank}')


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan's zombie lasts
    until init reaps it, which a container's init may never do)."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat.rpartition(')')[2].split()[0] != 'Z'


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT,
           expect_success: bool = True) -> str:
    """Wait for a started script; on timeout kill it and everything under
    it. Return its output, failing with its tail if it should have
    succeeded."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [*descendants(process.pid), process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)
        process.log.seek(0)
        pytest.fail(f'killed after {timeout} s:\n{process.log.read()[-5000:]}')
    process.log.seek(0)
    output = process.log.read()
    process.log.close()
    if expect_success:
        assert process.returncode == 0, output[-5000:]
    return output


def run_script(script: str, *args, env: dict, cwd: Path,
               timeout: float = RUN_TIMEOUT,
               expect_success: bool = True) -> subprocess.CompletedProcess:
    """Run ``tools/<script>`` to the end, see :func:`finish`."""
    process = start_script(script, *args, env=env, cwd=cwd)
    output = finish(process, timeout, expect_success)
    return subprocess.CompletedProcess(process.args, process.returncode,
                                       output)


def load_state_dict(path: Path) -> dict:
    return load_from_local_weights_only(str(path))['state_dict']


def max_abs_diff(a: dict, b: dict) -> float:
    """Largest difference between two state dicts with the same keys."""
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def run_workers(worker, world_size: int, *args) -> None:
    """Run ``worker(rank, world_size, port, *args)`` in ``world_size``
    spawned processes; fail if they do not finish within 2 minutes."""
    import torch.multiprocessing as mp
    context = mp.start_processes(worker,
                                 args=(world_size, free_port(), *args),
                                 nprocs=world_size, join=False,
                                 start_method='spawn')
    deadline = time.monotonic() + 120
    try:
        while not context.join(timeout=1):
            assert time.monotonic() < deadline, 'workers did not finish'
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
