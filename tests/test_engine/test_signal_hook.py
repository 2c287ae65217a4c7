"""PreemptionHook's pieces: the signal names it takes, what a signal does
outside training, and SIGINT waiting for a checkpoint write to complete.
The whole stop (save, log line, exit code, resume) is run by
tests/test_faults/test_preemption.py."""
import signal
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
from mmengine.logging import MMLogger

from fcn_mm.engine.hooks.signal_hook import PreemptionHook, exit_code


class _Runner(SimpleNamespace):
    """A runner stand-in that a weak reference can point to."""


def _runner():
    return _Runner(iter=6, hooks=[], _train_loop=None, _val_loop=None,
                   # A new logger: its console handler writes to the
                   # sys.stdout of the test that made it (capsys).
                   logger=MMLogger.get_instance(uuid.uuid4().hex))


@pytest.fixture
def hook():
    hook = PreemptionHook()
    yield hook
    hook.after_run(None)  # the handlers pytest had come back


def test_exit_codes_are_128_plus_the_signal():
    assert [exit_code(s) for s in (signal.SIGTERM, signal.SIGUSR1,
                                   signal.SIGINT)] == [143, 138, 130]


def test_unknown_signal_name_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"\['SIGTREM'\] are not signal "
                       r"names; use names of Python's signal module"):
        PreemptionHook(signals=('SIGTERM', 'SIGTREM'))


def test_handlers_are_installed_and_given_back():
    signals = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
    before = [signal.getsignal(signum) for signum in signals]
    hook = PreemptionHook()
    assert [signal.getsignal(s) for s in signals] == [hook._handle] * 3
    hook.after_run(None)
    assert [signal.getsignal(signum) for signum in signals] == before


OUTSIDE_TRAINING = '''
import os, signal
from fcn_mm.engine.hooks.signal_hook import PreemptionHook
hook = PreemptionHook()  # built by tools/test.py's runner, never trained
os.kill(os.getpid(), signal.SIGTERM)
print('survived', flush=True)
'''


def test_signal_outside_training_does_what_it_would_without_the_hook():
    done = subprocess.run([sys.executable, '-c', OUTSIDE_TRAINING],
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert 'survived' not in done.stdout


def save_checkpoint(hook, signum):
    """Named as mmengine's Runner.save_checkpoint: a signal arrives in it."""
    hook._handle(signum, sys._getframe())


def test_sigint_during_a_save_waits_for_it_then_stops_with_one_line(
        hook, capsys):
    runner = _runner()
    hook.before_train(runner)
    save_checkpoint(hook, signal.SIGINT)  # no exception inside the save
    with pytest.raises(SystemExit) as stop:
        hook.after_train_iter(runner, 0)
    assert stop.value.code == 130
    lines = [line for line in capsys.readouterr().out.splitlines()
             if 'SIGINT' in line]
    assert len(lines) == 1 and lines[0].endswith(
        'Interrupted by SIGINT during a checkpoint write, which completed; '
        'stopped at iteration 7.')


def test_sigint_outside_a_save_stops_at_once(hook, capsys):
    runner = _runner()
    hook.before_train(runner)
    with pytest.raises(SystemExit) as stop:
        hook._handle(signal.SIGINT, sys._getframe())
    assert stop.value.code == 130
    assert ('Interrupted by SIGINT at iteration 6; nothing saved since the '
            'last checkpoint.') in capsys.readouterr().out


def test_sigterm_waits_for_the_iteration_to_complete(hook):
    runner = _runner()
    hook.before_train(runner)
    hook._handle(signal.SIGTERM, sys._getframe())  # recorded, no exception
    with pytest.raises(SystemExit) as stop:  # no CheckpointHook: no save
        hook.after_train_iter(runner, 0)
    assert stop.value.code == 143
