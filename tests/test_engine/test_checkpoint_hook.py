"""AtomicCheckpointHook's pieces: the checksummed atomic backend, the choice
of checkpoint to resume from, and the warning when a run would start over."""
import hashlib
import io
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger

from fcn_mm.engine.hooks.checkpoint_hook import (AtomicCheckpointHook,
                                                 AtomicLocalBackend,
                                                 newest_intact_checkpoint)


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


def _runner(work_dir, resume):
    return SimpleNamespace(work_dir=str(work_dir), _resume=resume,
                           _load_from=None,
                           logger=MMLogger.get_instance('ckpt_hook_test'))


def test_before_run_without_resume_warns_that_checkpoints_exist(
        tmp_path, capsys):
    _checkpoint(tmp_path / 'iter_2.pth')
    (tmp_path / '.iter_4.pth.ckpt.1234abcd.fcn_mm_tmp').write_bytes(b'half')
    runner = _runner(tmp_path, resume=False)
    AtomicCheckpointHook(interval=1).before_run(runner)
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
