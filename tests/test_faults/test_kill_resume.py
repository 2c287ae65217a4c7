"""SIGKILL training at random moments, during checkpoint writes included,
resume each time: no checkpoint is ever lost and the final weights are
bit-equal to an uninterrupted run's."""
import random
import time

import pytest
from fault_helpers import start_train, unequal_state

from fcn_mm.engine.hooks.checkpoint_hook import newest_intact_checkpoint

# Room for every kill to land before the run ends on a fast machine: a
# random-moment start advances one save plus at most 0.3 s (about one
# iteration here, 0.2-0.5 s each on an idle 2-core machine), a mid-write
# start at most one, so 8 starts advance at most about 12 iterations.
MAX_ITERS = 16
TRIALS = 8  # killed starts; the run after them finishes undisturbed
TEMPORARY = '.iter_*.pth.*fcn_mm_tmp'


def _mtime(path):
    """``path``'s modification time in ns, None if it does not exist."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _wait(process, ready, limit=300):
    """Poll every 0.5 ms until ``ready()``; False if the process ended."""
    end = time.monotonic() + limit
    while time.monotonic() < end and process.poll() is None:
        if ready():
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
    log.touch()
    rng = random.Random(0)
    kills = mid_write = 0
    saved_before = False
    for trial in range(TRIALS + 1):
        stale = set(work_dir.glob(TEMPORARY))  # a killed run's, removed
        process = start_train(deterministic_config, '--work-dir', work_dir,
                              '--resume', '--cfg-options', *options,
                              cwd=tmp_path, log=log)

        def writing():
            return bool(set(work_dir.glob(TEMPORARY)) - stale)

        if trial < TRIALS:
            if trial % 2:  # as soon as a checkpoint write starts
                _wait(process, writing)
            else:  # at a random moment once this start saved one
                # (so that every other start makes progress, however slow
                # the machine: the count of resumes below needs it)
                saved = _mtime(work_dir / 'last_checkpoint')
                _wait(process, lambda: _mtime(work_dir / 'last_checkpoint')
                      != saved)
                time.sleep(rng.uniform(0, 0.3))
            if process.poll() is None:
                hit = writing()
                process.kill()
                kills += 1
                mid_write += hit
        assert process.wait(timeout=300) in (0, -9), log.read_text()[-3000:]
        # A kill never loses the last checkpoint, nor leaves a broken one.
        path, broken = newest_intact_checkpoint(str(work_dir))
        assert broken == []
        assert path is not None or not saved_before
        saved_before = path is not None
        if process.returncode == 0:
            break
    text = log.read_text()
    resumed = text.count('Resuming from ')
    print(f'\n{kills} SIGKILLs ({mid_write} during a checkpoint write), '
          f'{resumed} resumes from a checkpoint, then a clean finish')
    assert process.returncode == 0, text[-3000:]
    assert kills == TRIALS and mid_write >= TRIALS // 2 and resumed >= 4
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [
        f'iter_{MAX_ITERS}.pth'
    ]
    assert not list(work_dir.glob('.*fcn_mm_tmp'))
    assert unequal_state(reference / f'iter_{MAX_ITERS}.pth',
                         work_dir / f'iter_{MAX_ITERS}.pth') == []
