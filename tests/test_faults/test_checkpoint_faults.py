"""Broken, missing and moved checkpoints, and a full disk, against
tools/train.py --resume."""
import os
import shutil

import pytest

from fcn_mm.engine.checkpoint import checkpoint_problem

pytestmark = pytest.mark.slow


@pytest.fixture
def resume(tmp_path, three_checkpoints, deterministic_config, fault_options,
           run_tool):
    """``resume(*args, expect_success=True)``: tools/train.py on a copy of
    the three-checkpoint work dir at ``tmp_path / 'run'``, to iteration 4."""
    work_dir = tmp_path / 'run'
    shutil.copytree(three_checkpoints, work_dir)

    def run(*args, work=work_dir, expect_success=True):
        return run_tool('train', deterministic_config, '--work-dir', work,
                        *args, '--cfg-options', *fault_options,
                        'train_cfg.max_iters=4', cwd=tmp_path,
                        expect_success=expect_success).stdout

    run.work_dir = work_dir
    return run


def test_resume_skips_truncated_and_altered_naming_why(resume):
    work_dir = resume.work_dir
    newest = work_dir / 'iter_3.pth'
    newest.write_bytes(newest.read_bytes()[:1000])
    altered = bytearray((work_dir / 'iter_2.pth').read_bytes())
    altered[len(altered) // 2] ^= 1
    (work_dir / 'iter_2.pth').write_bytes(bytes(altered))
    output = resume('--resume')
    assert f'Not resuming from {newest}: its sha256 is ' in output
    assert f'Not resuming from {work_dir}/iter_2.pth: its sha256' in output
    assert f'Resuming from {work_dir}/iter_1.pth, the newest intact' in output
    assert 'resumed epoch: 0, iter: 1' in output
    assert checkpoint_problem(str(work_dir / 'iter_4.pth')) is None


def test_moved_work_dir_with_stale_last_checkpoint_resumes(resume, tmp_path):
    moved = tmp_path / 'moved'
    os.rename(resume.work_dir, moved)
    assert (moved / 'last_checkpoint').read_text() == 'iter_3.pth'
    (moved / 'iter_3.pth').unlink()  # last_checkpoint now names no file
    # The config's resume=True is not ignored (no --resume given).
    output = resume('--cfg-options', 'resume=True', work=moved)
    assert f'Resuming from {moved}/iter_2.pth' in output
    assert 'resumed epoch: 0, iter: 2' in output


def test_resume_path_resumes_that_one_or_names_its_problem(resume):
    output = resume('--resume', resume.work_dir / 'iter_1.pth')
    assert 'resumed epoch: 0, iter: 1' in output
    empty = resume.work_dir / 'iter_2.pth'
    empty.write_bytes(b'')
    failed = resume('--resume', empty, expect_success=False)
    assert f'error: Cannot load checkpoint {empty}: the file is empty' in (
        failed)


def test_every_checkpoint_broken_stops_instead_of_starting_over(resume):
    for name in ('iter_1.pth', 'iter_2.pth', 'iter_3.pth'):
        (resume.work_dir / name).write_text('partial')
    output = resume('--resume', expect_success=False)
    assert 'every checkpoint in' in output and 'is broken' in output
    assert 'resumed epoch' not in output and 'Iter(train)' not in output


def test_full_disk_keeps_the_last_checkpoint(tmp_path, small_disk,
                                             three_checkpoints,
                                             deterministic_config,
                                             fault_options, run_tool):
    size = (three_checkpoints / 'iter_1.pth').stat().st_size
    # Room for one checkpoint and the logs, not for a second beside it.
    work_dir = small_disk((1.6 * size + 2 ** 20) / 2 ** 20)
    output = run_tool('train', deterministic_config, '--work-dir', work_dir,
                      '--cfg-options', *fault_options,
                      'train_cfg.max_iters=3', cwd=tmp_path,
                      expect_success=False).stdout
    assert (f'No space left on device: could not write '
            f'{work_dir}/iter_2.pth') in output
    assert checkpoint_problem(str(work_dir / 'iter_1.pth')) is None
    assert (work_dir / 'last_checkpoint').read_text() == 'iter_1.pth'
    assert sorted(p.name for p in work_dir.glob('*.pth*')) == [
        'iter_1.pth', 'iter_1.pth.sha256'
    ]
    assert not list(work_dir.glob('.*fcn_mm_tmp'))
