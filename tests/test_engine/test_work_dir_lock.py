"""lock_work_dir: one live training run a work dir; a killed run's lock does
not block the next."""
import os
import signal
import subprocess
import sys

import pytest

from fcn_mm.engine.runner import (LOCK_FILE, WorkDirBusyError, holds_work_dir,
                                  lock_work_dir)

HOLDER = '''
import sys, time
from fcn_mm.engine.runner import lock_work_dir
lock_work_dir(sys.argv[1])
print('locked', flush=True)
time.sleep(120)
'''


def _hold(work_dir):
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(work_dir)],
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, RANK='0'))
    assert holder.stdout.readline().strip() == 'locked'
    return holder


def test_live_holder_refuses_a_second_run_naming_its_pid(tmp_path,
                                                         monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    holder = _hold(tmp_path)
    try:
        with pytest.raises(WorkDirBusyError) as error:
            lock_work_dir(str(tmp_path))
        assert f'(PID {holder.pid}, see {tmp_path / LOCK_FILE})' in str(
            error.value)
        assert '--work-dir' in str(error.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the killed holder's lock: the next run takes it.
    fd = lock_work_dir(str(tmp_path))
    try:
        assert (tmp_path / LOCK_FILE).read_text() == f'{os.getpid()}\n'
    finally:
        os.close(fd)


def test_only_rank_zero_locks(tmp_path, monkeypatch):
    monkeypatch.setenv('RANK', '1')
    assert lock_work_dir(str(tmp_path / 'w')) == -1
    assert not (tmp_path / 'w').exists()


FORKING_HOLDER = '''
import os, sys, time
from fcn_mm.engine.runner import lock_work_dir
lock_work_dir(sys.argv[1])
child = os.fork()  # as a data-loader worker is forked
if child == 0:
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(120)
'''


def test_forked_children_of_a_killed_run_do_not_hold_the_lock(tmp_path,
                                                             monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    holder = subprocess.Popen(
        [sys.executable, '-c', FORKING_HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, RANK='0'))
    child = int(holder.stdout.readline())
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    try:
        os.kill(child, 0)  # the worker still lives...
        os.close(lock_work_dir(str(tmp_path)))  # ...and the lock is free
    finally:
        os.kill(child, signal.SIGKILL)


def test_holds_work_dir_only_while_this_process_holds_the_lock(
        tmp_path, monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    mine, theirs = tmp_path / 'mine', tmp_path / 'theirs'
    assert not holds_work_dir(str(mine))
    fd = lock_work_dir(str(mine))
    assert holds_work_dir(str(mine))
    assert holds_work_dir(str(mine) + '/.')  # the same folder, spelt another way
    os.close(fd)  # releases the lock
    assert not holds_work_dir(str(mine))
    theirs.mkdir()
    holder = _hold(theirs)
    try:
        assert not holds_work_dir(str(theirs))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
