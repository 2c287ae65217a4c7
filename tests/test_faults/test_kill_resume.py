"""SIGKILL training at random moments, during checkpoint writes included,
resume each time: no checkpoint is ever lost and the final weights are
bit-equal to an uninterrupted run's."""
import random
import time

import pytest
import torch
from fault_helpers import start_train

from fcn_mm.engine.checkpoint import load_from_local_weights_only
from fcn_mm.engine.hooks.checkpoint_hook import newest_intact_checkpoint

MAX_ITERS = 8
TRIALS = 10  # killed starts; the run after them finishes undisturbed


def _wait_for_write(work_dir, process, limit):
    """Poll for the hook's temporary checkpoint file; True once it exists."""
    end = time.monotonic() + limit
    while time.monotonic() < end and process.poll() is None:
        if any(work_dir.glob('.iter_*.pth.*fcn_mm_tmp')):
            return True
        time.sleep(0.0005)
    return False


@pytest.mark.slow
def test_sigkill_loop_resumes_bit_equal(tmp_path, deterministic_config,
                                        fault_options, run_tool):
    options = fault_options + [f'train_cfg.max_iters={MAX_ITERS}']
    reference = tmp_path / 'reference'
    run_tool('train', deterministic_config, '--work-dir', reference,
             '--cfg-options', *options, cwd=tmp_path)

    work_dir, log = tmp_path / 'killed', tmp_path / 'killed.log'
    rng = random.Random(0)
    kills = mid_write = resumed = 0
    saved_before = False
    for trial in range(TRIALS + 1):
        process = start_train(deterministic_config, '--work-dir', work_dir,
                              '--resume', '--cfg-options', *options,
                              cwd=tmp_path, log=log)
        if trial < TRIALS:
            if trial % 2:  # kill as soon as a checkpoint write starts
                hit = _wait_for_write(work_dir, process, limit=60)
            else:  # or at a random moment of start-up and training
                time.sleep(rng.uniform(2, 12))
                hit = any(work_dir.glob('.iter_*.pth.*fcn_mm_tmp'))
            if process.poll() is None:
                process.kill()
                kills += 1
                mid_write += hit
        assert process.wait(timeout=300) in (0, -9), log.read_text()[-3000:]
        # A kill never loses the last checkpoint.
        path, broken = newest_intact_checkpoint(str(work_dir)) if (
            work_dir.is_dir()) else (None, [])
        assert broken == []
        assert path is not None or not saved_before
        saved_before = path is not None
        if process.returncode == 0:
            break
    text = log.read_text()
    resumed = text.count('Resuming from ')
    print(f'{kills} kills ({mid_write} during a checkpoint write), '
          f'{resumed} resumes from a checkpoint')
    assert process.returncode == 0, text[-3000:]
    assert kills >= TRIALS // 2 and mid_write >= 1 and resumed >= 2
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [
        f'iter_{MAX_ITERS}.pth'
    ]
    assert not list(work_dir.glob('.*fcn_mm_tmp'))
    expected = load_from_local_weights_only(
        str(reference / f'iter_{MAX_ITERS}.pth'))['state_dict']
    got = load_from_local_weights_only(
        str(work_dir / f'iter_{MAX_ITERS}.pth'))['state_dict']
    assert expected.keys() == got.keys()
    unequal = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert unequal == []
