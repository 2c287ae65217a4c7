"""AtomicCheckpointHook's pieces: the checksummed atomic backend, the choice
of checkpoint to resume from, the warning when a run would start over, who
removes temporaries, and removing old checkpoints."""
import hashlib
import io
import os
import subprocess
import sys
from collections import deque
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger

from fcn_mm.engine.checkpoint import checkpoint_problem
from fcn_mm.engine.hooks.checkpoint_hook import (AtomicCheckpointHook,
                                                 AtomicLocalBackend,
                                                 newest_intact_checkpoint)
from fcn_mm.engine.runner import lock_work_dir


def _checkpoint(path, value=1.0):
    """Put a small checkpoint at ``path`` through the backend; its bytes."""
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.full((4, ), value)}}, buffer)
    AtomicLocalBackend().put(buffer.getvalue(), str(path))
    return buffer.getvalue()


def test_put_writes_file_and_sha256sum_sidecar_and_remove_removes_both(
        tmp_path):
    path = tmp_path / 'sub' / 'iter_3.pth'
    data = _checkpoint(path)
    assert path.read_bytes() == data
    assert (tmp_path / 'sub' / 'iter_3.pth.sha256').read_text() == (
        f'{hashlib.sha256(data).hexdigest()}  iter_3.pth\n')
    assert sorted(p.name for p in path.parent.iterdir()) == [
        'iter_3.pth', 'iter_3.pth.sha256'
    ]
    AtomicLocalBackend().remove(str(path))
    assert list(path.parent.iterdir()) == []


def test_failed_put_leaves_neither_file_nor_sidecar(tmp_path):
    # A folder where the file goes: the final rename fails, as a write on a
    # full disk does, after the sidecar was written.
    path = tmp_path / 'iter_1.pth'
    path.mkdir()
    with pytest.raises(OSError, match=f': could not write {path} '):
        AtomicLocalBackend().put(b'data', str(path))
    assert [p.name for p in tmp_path.iterdir()] == ['iter_1.pth']


def test_newest_intact_prefers_last_checkpoint_then_highest_step(tmp_path):
    for step in (2, 10, 4):
        _checkpoint(tmp_path / f'iter_{step}.pth', value=step)
    assert newest_intact_checkpoint(str(tmp_path)) == (
        str(tmp_path / 'iter_10.pth'), [])
    (tmp_path / 'last_checkpoint').write_text('iter_4.pth')
    assert newest_intact_checkpoint(str(tmp_path))[0] == str(tmp_path /
                                                             'iter_4.pth')
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    path, skipped = newest_intact_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'iter_10.pth')
    assert skipped == [(str(tmp_path / 'iter_4.pth'),
                        'the file is empty (0 bytes), as a write interrupted '
                        'by a kill or a full disk leaves it')]


def test_newest_intact_prefers_a_checkpoint_named_after_last_checkpoint(
        tmp_path):
    # A kill after iter_6.pth was renamed into place, before last_checkpoint
    # named it: the newer file wins. iter_9.pth, older than last_checkpoint,
    # is an earlier run's that went further: it does not.
    for step, written in ((9, 100), (4, 200), (6, 400)):
        _checkpoint(tmp_path / f'iter_{step}.pth', value=step)
        os.utime(tmp_path / f'iter_{step}.pth', ns=(written, written))
    (tmp_path / 'last_checkpoint').write_text('iter_4.pth')
    os.utime(tmp_path / 'last_checkpoint', ns=(300, 300))
    assert newest_intact_checkpoint(str(tmp_path)) == (
        str(tmp_path / 'iter_6.pth'), [])
    (tmp_path / 'iter_6.pth').write_bytes(b'PK\x03\x04 cut')
    os.utime(tmp_path / 'iter_6.pth', ns=(400, 400))
    path, skipped = newest_intact_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'iter_4.pth')
    assert [p for p, _ in skipped] == [str(tmp_path / 'iter_6.pth')]


KILLED_PUT = '''
import os, sys
from fcn_mm.engine.hooks import checkpoint_hook
calls = []
def write_then_die(*args, **kwargs):
    calls.append(args[0])
    if len(calls) == int(sys.argv[2]):
        os._exit(9)  # as SIGKILL: no except or finally block runs
    real(*args, **kwargs)
real, checkpoint_hook.atomic_write = checkpoint_hook.atomic_write, write_then_die
checkpoint_hook.AtomicLocalBackend().put(open(sys.argv[3], 'rb').read(),
                                         sys.argv[1])
'''


@pytest.mark.parametrize('killed_at', [1, 2])
def test_kill_during_put_never_pairs_a_checkpoint_with_another_sidecar(
        tmp_path, killed_at):
    path = tmp_path / 'iter_3.pth'
    _checkpoint(path, value=1.0)  # the old one, with its sidecar
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.full((4, ), 2.0)}}, buffer)
    new = tmp_path / 'new.bin'
    new.write_bytes(buffer.getvalue())
    done = subprocess.run([
        sys.executable, '-c', KILLED_PUT,
        str(path), str(killed_at), str(new)], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    assert checkpoint_problem(str(path), test_zip=True) is None
    # Killed in the checkpoint's write: the old file; in the sidecar's: the
    # new one; either without a sidecar, checked by its zip CRCs.
    assert (path.read_bytes() == buffer.getvalue()) == (killed_at == 2)
    assert not (tmp_path / 'iter_3.pth.sha256').exists()


def _runner(work_dir, resume):
    return SimpleNamespace(work_dir=str(work_dir), _resume=resume,
                           _load_from=None,
                           logger=MMLogger.get_instance('ckpt_hook_test'))


def _dead_pid():
    """The PID of a process that has ended."""
    done = subprocess.run(
        [sys.executable, '-c', 'import os; print(os.getpid())'],
        capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_before_run_without_resume_warns_that_checkpoints_exist(
        tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    _checkpoint(tmp_path / 'iter_2.pth')
    (tmp_path / f'.iter_4.pth.ckpt.{_dead_pid()}.1234abcd.fcn_mm_tmp'
     ).write_bytes(b'half')
    runner = _runner(tmp_path, resume=False)
    fd = lock_work_dir(str(tmp_path))  # as tools/train.py does
    try:
        AtomicCheckpointHook(interval=1).before_run(runner)
    finally:
        os.close(fd)
    assert runner._load_from is None
    assert not list(tmp_path.glob('.*fcn_mm_tmp'))  # a killed run's write
    assert (f'{tmp_path} holds checkpoints (iter_2.pth) but training starts '
            'from iteration 0, as --resume was not given') in (
                capsys.readouterr().out)


def test_before_run_with_resume_picks_or_refuses(tmp_path):
    runner = _runner(tmp_path, resume=True)
    AtomicCheckpointHook(interval=1).before_run(runner)
    assert runner._resume is False  # nothing yet: start from iteration 0
    (tmp_path / 'iter_1.pth').write_text('partial')
    runner = _runner(tmp_path, resume=True)
    with pytest.raises(RuntimeError, match='every checkpoint in .* is broken'):
        AtomicCheckpointHook(interval=1).before_run(runner)
    _checkpoint(tmp_path / 'iter_0.pth')
    runner = _runner(tmp_path, resume=True)
    AtomicCheckpointHook(interval=1).before_run(runner)
    assert runner._load_from == str(tmp_path / 'iter_0.pth')


LIVE_RUN = '''
import os, sys, time
from fcn_mm.engine.runner import lock_work_dir
lock_work_dir(sys.argv[1])
name = f'.iter_4.pth.ckpt.{os.getpid()}.0123abcd.fcn_mm_tmp'
with open(os.path.join(sys.argv[1], name), 'wb') as f:
    f.write(b'half')
print(name, flush=True)
time.sleep(120)
'''


def test_live_runs_temporary_survives_a_test_mode_runner(tmp_path,
                                                         monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    # A live training run: it holds the work dir and is writing iter_4.pth.
    holder = subprocess.Popen([sys.executable, '-c', LIVE_RUN, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        temporary = tmp_path / holder.stdout.readline().strip()
        # tools/test.py --work-dir on it: a runner that loads a checkpoint.
        runner = _runner(tmp_path, resume=False)
        runner._load_from = str(tmp_path / 'iter_2.pth')
        AtomicCheckpointHook(interval=1).before_run(runner)
        assert temporary.read_bytes() == b'half'
    finally:
        holder.kill()
        holder.wait()


def test_lock_holder_removes_only_dead_writers_temporaries(tmp_path,
                                                           monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    writer = subprocess.Popen(
        [sys.executable, '-c', 'import time; time.sleep(120)'])
    names = {
        'dead': f'.iter_4.pth.ckpt.{_dead_pid()}.0123abcd.fcn_mm_tmp',
        'legacy': '.iter_4.pth.ckpt.89abcdef.fcn_mm_tmp',
        'live': f'.iter_5.pth.ckpt.{writer.pid}.0123abcd.fcn_mm_tmp',
        'other': '.pred.png.0123abcd.fcn_mm_tmp',  # not the hook's
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b'half')
    fd = lock_work_dir(str(tmp_path))
    try:
        AtomicCheckpointHook(interval=1).before_run(_runner(tmp_path, False))
    finally:
        os.close(fd)
        writer.kill()
        writer.wait()
    assert sorted(p.name for p in tmp_path.glob('.*fcn_mm_tmp')) == sorted(
        [names['live'], names['other']])


def test_save_removes_every_checkpoint_beyond_max_keep_ckpts(tmp_path):
    # iter_1.pth and iter_2.pth's sidecar: a kill during an earlier removal
    # left them, and keep_ckpt_ids (saved in the checkpoint) no longer names
    # them. best_* and a later step of another run are not this sequence's.
    for step in (1, 2, 3, 4, 9):
        _checkpoint(tmp_path / f'iter_{step}.pth')
    (tmp_path / 'iter_2.pth').unlink()
    _checkpoint(tmp_path / 'best_mIoU_iter_1.pth')
    hook = AtomicCheckpointHook(interval=1, max_keep_ckpts=2)
    hook.out_dir, hook.filename_tmpl = str(tmp_path), 'iter_{}.pth'
    hook.file_backend = AtomicLocalBackend()
    hook.keep_ckpt_ids = deque([3, 4], maxlen=2)
    runner = SimpleNamespace(
        work_dir=str(tmp_path),
        message_hub=MessageHub.get_instance('max_keep_test'),
        save_checkpoint=lambda out_dir, name, *a, **k: _checkpoint(
            tmp_path / name))
    hook._save_checkpoint_with_step(runner, 5, meta={})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'best_mIoU_iter_1.pth', 'best_mIoU_iter_1.pth.sha256', 'iter_4.pth',
        'iter_4.pth.sha256', 'iter_5.pth', 'iter_5.pth.sha256', 'iter_9.pth',
        'iter_9.pth.sha256', 'last_checkpoint'
    ]
    assert runner.message_hub.get_info('keep_ckpt_ids') == [4, 5]
