"""SIGTERM and SIGUSR1 (Slurm preemption, scancel, --signal=USR1@90) and
SIGINT sent to a training run's whole process group, as Slurm signals every
process of a job step: the run saves the iteration it completed, says so in
one line, exits 128 + the signal, its data-loader workers end with it, and
--resume reaches the weights and optimizer state of an uninterrupted run."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from fault_helpers import start_train, unequal_state
from tool_runs import REPO

from fcn_mm.engine.checkpoint import checkpoint_problem

pytestmark = pytest.mark.slow

MAX_ITERS = 8
TEMPORARY = '.iter_*.pth.*fcn_mm_tmp'


@pytest.fixture(scope='module')
def preemption_options(fault_options):
    """Two persistent data-loader workers, and interval checkpoints that the
    signal falls between (only the end-of-training one)."""
    return fault_options + [
        f'train_cfg.max_iters={MAX_ITERS}',
        'default_hooks.checkpoint.interval=100',
        'default_hooks.checkpoint.max_keep_ckpts=2',
        'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=True'
    ]


@pytest.fixture(scope='module')
def reference(tmp_path_factory, deterministic_config, preemption_options,
              run_tool):
    """The final checkpoint of an uninterrupted run."""
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    run_tool('train', deterministic_config, '--work-dir', work_dir,
             '--cfg-options', *preemption_options, cwd=work_dir)
    return work_dir / f'iter_{MAX_ITERS}.pth'


def _wait(process, ready, what):
    deadline = time.monotonic() + 300
    while not ready():
        assert process.poll() is None and time.monotonic() < deadline, (
            f'the run ended or stalled before {what}')
        time.sleep(0.01)


def _children(pid):
    path = f'/proc/{pid}/task/{pid}/children'
    with open(path) as f:
        return [int(child) for child in f.read().split()]


def _running(pid):
    """Whether ``pid`` is a process that has not ended (zombies have)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1],
                         ids=['SIGTERM', 'SIGUSR1'])
def test_signal_saves_the_iteration_and_resume_is_bit_equal(
        tmp_path, deterministic_config, preemption_options, reference,
        signum):
    work_dir, log = tmp_path / 'run', tmp_path / 'run.log'
    process = start_train(deterministic_config, '--work-dir', work_dir,
                          '--cfg-options', *preemption_options,
                          cwd=tmp_path, log=log)
    _wait(process, lambda: 'Iter(train) [2/8]' in log.read_text(),
          'iteration 2')
    workers = _children(process.pid)
    os.killpg(process.pid, signum)  # main process and workers, as Slurm
    code = process.wait(timeout=300)
    running = [pid for pid in workers if _running(pid)]
    text = log.read_text()
    assert code == 128 + signum, text[-3000:]
    assert len(workers) == 2 and running == []
    name = signal.Signals(signum).name
    lines = re.findall(f'Received {name}: .*', text)
    assert len(lines) == 1, text[-3000:]
    step = int(re.fullmatch(
        f'Received {name}: saved {work_dir}/iter_(\\d+).pth at iteration '
        f'(\\d+); exiting with code {128 + signum}, continue with --resume.',
        lines[0]).group(1))
    assert 2 <= step < MAX_ITERS
    assert f'Iter(train) [{step}/8]' in text  # at most one lost
    assert f'Iter(train) [{step + 1}/8]' not in text
    assert checkpoint_problem(str(work_dir / f'iter_{step}.pth')) is None
    assert 'Traceback' not in text and not list(work_dir.glob(TEMPORARY))
    if signum != signal.SIGTERM:
        return  # the resume is the same

    process = start_train(deterministic_config, '--work-dir', work_dir,
                          '--resume', '--cfg-options', *preemption_options,
                          cwd=tmp_path, log=log)
    assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert f'Resuming from {work_dir}/iter_{step}.pth' in log.read_text()
    assert unequal_state(reference, work_dir / f'iter_{MAX_ITERS}.pth') == []


def test_sigint_during_a_save_ends_with_one_line(tmp_path,
                                                 deterministic_config,
                                                 fault_options):
    # A checkpoint every iteration; Ctrl-C as soon as one is being written.
    work_dir, log = tmp_path / 'run', tmp_path / 'run.log'
    process = start_train(deterministic_config, '--work-dir', work_dir,
                          '--cfg-options', *fault_options,
                          f'train_cfg.max_iters={MAX_ITERS}', cwd=tmp_path,
                          log=log)
    _wait(process, lambda: bool(list(work_dir.glob(TEMPORARY))),
          'a checkpoint write')
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=300) == 130
    text = log.read_text()
    stops = re.findall('Interrupted by SIGINT .*', text)
    assert len(stops) == 1, text[-3000:]
    # The write in progress completes, if the signal came in time for it.
    assert re.fullmatch(
        r'Interrupted by SIGINT during a checkpoint write, which completed; '
        r'stopped at iteration \d+\.|Interrupted by SIGINT at iteration '
        r'\d+; nothing saved since the last checkpoint\.', stops[0])
    assert 'Traceback' not in text and 'SyntaxError' not in text
    assert len(text.splitlines()) < 200  # no config dump
    for path in work_dir.glob('iter_*.pth'):
        assert checkpoint_problem(str(path)) is None


def _descendants(pid):
    """Pids under ``pid`` (torchrun's workers are in sessions of their own,
    so a process group signal would miss them)."""
    found = []
    tasks = f'/proc/{pid}/task'
    for task in os.listdir(tasks) if os.path.isdir(tasks) else []:
        try:
            with open(f'{tasks}/{task}/children') as f:
                children = [int(child) for child in f.read().split()]
        except OSError:  # ended meanwhile
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _rank_pid(agent, rank):
    for pid in _descendants(agent):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                if f'RANK={rank}'.encode() in f.read().split(b'\0'):
                    return pid
        except OSError:
            continue
    raise LookupError(f'torchrun {agent} has no worker of rank {rank}')


def test_sigterm_to_one_rank_stops_both_at_one_saved_iteration(
        tmp_path, deterministic_config, fault_options):
    # As a node of a multi-node job being preempted: only rank 1 gets it.
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    work_dir, log = tmp_path / 'run', tmp_path / 'run.log'
    with open(log, 'wb') as out:
        process = subprocess.Popen(
            ['bash', str(REPO / 'tools' / 'dist_train.sh'),
             str(deterministic_config), '2', '--work-dir', str(work_dir),
             '--cfg-options', *fault_options, 'train_cfg.max_iters=100000',
             'default_hooks.checkpoint.interval=100000'],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, OMP_NUM_THREADS='1',
                     MASTER_ADDR='127.0.0.1', PORT=str(port)))
    try:
        _wait(process, lambda: 'Iter(train) [     2/100000]' in
              log.read_text(), 'iteration 2')
        os.kill(_rank_pid(process.pid, 1), signal.SIGTERM)
        process.wait(timeout=300)
    finally:
        left = _descendants(process.pid) if process.poll() is None else []
        for pid in [*left, process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = log.read_text()
    lines = re.findall('Received SIGTERM: .*', text)
    assert len(lines) == 1, text[-3000:]  # rank 0's logger
    step = int(re.search(r'iter_(\d+)\.pth at iteration', lines[0]).group(1))
    assert process.returncode != 0
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == [
        f'iter_{step}.pth'
    ]
    assert checkpoint_problem(str(work_dir / f'iter_{step}.pth')) is None
    assert f'[{step + 1:6d}/100000]' not in text
