"""Preemption-safe training: SIGTERM and SIGUSR1 save the current iteration
and stop; SIGINT never interrupts a checkpoint write.

Slurm sends SIGTERM when it preempts or cancels a job (``scancel``) and, with
``--signal=USR1@90``, SIGUSR1 90 s before the time limit, in both cases to
every process of the job step. As TorchElastic and Lightning's fault-tolerant
training do, :class:`PreemptionHook`'s handler only records the signal; once
the current iteration is complete, the run saves a checkpoint through its
``CheckpointHook``, logs one line and exits with ``128 + signal number``
(:func:`exit_code`: 143 for SIGTERM, 138 for SIGUSR1, 130 for SIGINT), the
code a shell gives a process ended by that signal, so that a Slurm script
tells a stop it may requeue from a finished run (0) or a failure (1).
``--resume`` then continues to the same weights as an uninterrupted run.
"""
import atexit
import mmap
import os
import signal
import threading
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, get_world_size
from mmengine.dist.utils import get_comm_device
from mmengine.hooks import CheckpointHook, Hook
from mmseg.registry import HOOKS
from torch.utils.data._utils import signal_handling

__all__ = ['PreemptionHook', 'exit_code']

# A SIGINT that comes while one of these runs waits until it returns: mmengine
# 0.10.7's Runner.save_checkpoint formats the config with yapf under a bare
# ``except``, which turns a KeyboardInterrupt into a SyntaxError that prints
# the whole config; and a half-written save is work lost.
_SAVE_FUNCTIONS = frozenset(('save_checkpoint', '_save_checkpoint',
                             '_save_checkpoint_with_step',
                             '_save_best_checkpoint'))


def exit_code(signum: int) -> int:
    """The exit code of a run stopped by ``signum``: ``128 + signum``."""
    return 128 + signum


def _in_save(frame) -> bool:
    """Whether ``frame`` or a caller of it is a checkpoint save."""
    while frame is not None:
        if frame.f_code.co_name in _SAVE_FUNCTIONS:
            return True
        frame = frame.f_back
    return False


def _mark_exiting(flag: mmap.mmap) -> None:
    """Tell the data-loader workers that the main process is exiting."""
    flag[0] = 1


# The hook whose handler data-loader workers forked from now on take for
# SIGTERM. torch 2.13's worker loop starts by calling
# ``torch.utils.data._utils.signal_handling._set_worker_signal_handlers``,
# whose SIGTERM handler ends the worker unless its parent sent the signal;
# the wrapper :func:`_wrap_worker_signal_handlers` puts there runs it, then
# puts the hook's back. Wrapped when the first hook is built, not on import.
_WORKER_HOOK: Optional['PreemptionHook'] = None


def _wrap_worker_signal_handlers() -> None:
    torch_handlers = signal_handling._set_worker_signal_handlers
    if getattr(torch_handlers, '_fcn_mm', False):
        return

    def set_handlers(*args) -> None:
        torch_handlers(*args)
        if _WORKER_HOOK is not None:
            signal.signal(signal.SIGTERM, _WORKER_HOOK._handle)

    set_handlers._fcn_mm = True
    signal_handling._set_worker_signal_handlers = set_handlers


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save and stop on SIGTERM or SIGUSR1 after the current iteration.

    The run saves ``iter_N.pth`` (N: the last complete iteration) through its
    ``CheckpointHook`` (nothing more is written if that hook just saved N),
    logs ``Received SIGTERM: saved <path> at iteration N; exiting with code
    143, continue with --resume.`` and exits with :func:`exit_code`. A signal
    during validation stops after the next iteration. In a
    distributed run the ranks agree at every iteration, so a signal to any
    rank stops all of them at the same one. SIGINT (Ctrl-C) stops at once
    with one line, except during a checkpoint write, which completes first.

    The handlers are installed when the runner builds its hooks, before the
    data-loader workers are forked (mmengine 0.10.7 forks them when it builds
    the train loop, before ``before_run``), so that the workers inherit them
    (SIGTERM put back after torch's worker start-up replaces it): a worker
    ignores the signals Slurm sends to every process of the step
    (and the SIGTERM srun forwards again) until the main process exits, which
    it marks in a page shared with the workers; then multiprocessing's
    SIGTERM at exit ends them, before the main process ends. Outside
    training (``tools/test.py`` builds this hook too) a signal does what it
    would do without the hook. Iteration-based loops only: an epoch-based run
    stops without saving, as a mid-epoch checkpoint would not resume
    exactly.

    Args:
        signals (Sequence[str]): The signals that save and stop. Defaults to
            ``('SIGTERM', 'SIGUSR1')``.
    """

    priority = 'LOWEST'  # after CheckpointHook, so its save comes first

    def __init__(self,
                 signals: Sequence[str] = ('SIGTERM', 'SIGUSR1')) -> None:
        unknown = [name for name in signals
                   if not isinstance(getattr(signal, str(name), None),
                                     signal.Signals)]
        if unknown:
            raise ValueError(
                f'PreemptionHook(signals=...): {unknown} are not signal '
                "names; use names of Python's signal module, e.g. "
                "('SIGTERM', 'SIGUSR1').")
        self.signals = tuple(getattr(signal, name) for name in signals)
        self._owner = os.getpid()
        self._training = False
        self._received: Optional[int] = None
        self._previous = {}
        # Shared with the forked workers; 1 once this process exits. Marked
        # at exit before multiprocessing ends the workers: atexit runs the
        # last registered first.
        self._exiting = mmap.mmap(-1, 1)
        atexit.register(_mark_exiting, self._exiting)
        # Only the main thread may set signal handlers.
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals + (signal.SIGINT, ):
                self._previous[signum] = signal.signal(signum, self._handle)
            global _WORKER_HOOK
            _WORKER_HOOK = self
            _wrap_worker_signal_handlers()

    def _handle(self, signum: int, frame) -> None:
        if os.getpid() != self._owner:
            # A data-loader worker: it serves the main process until that
            # exits, then ends with status 0, as torch's own handler ends a
            # worker on its parent's SIGTERM (a death by a signal would make
            # torch's SIGCHLD handler raise in the exiting main process).
            if self._exiting[0]:
                os._exit(0)
            return
        if not self._training:
            _mark_exiting(self._exiting)
            self._restore()
            os.kill(os.getpid(), signum)  # as if this hook were not there
            return
        if self._received is None:
            self._received = signum
        if signum == signal.SIGINT and not _in_save(frame):
            self._exit(
                signum, f'Interrupted by SIGINT at iteration '
                f'{self._runner.iter}; nothing saved since the last '
                'checkpoint.')

    def _restore(self) -> None:
        global _WORKER_HOOK
        if _WORKER_HOOK is self:
            _WORKER_HOOK = None
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._handle:
                # None: a handler not set from Python, i.e. the default.
                signal.signal(signum, signal.SIG_DFL
                              if previous is None else previous)
        self._previous = {}

    def _exit(self, signum: int, line: str) -> None:
        """Log ``line`` and exit as ``signum`` says."""
        self._runner.logger.warning(line)
        self._training = False
        self._restore()
        raise SystemExit(exit_code(signum))

    def before_train(self, runner) -> None:
        self._runner = runner
        self._training = True

    def after_train(self, runner) -> None:
        self._training = False
        # A SIGINT during the end-of-training save; any other signal now
        # stops nothing: the run is complete and exits 0.
        if self._received == signal.SIGINT:
            self._exit(
                signal.SIGINT, 'Interrupted by SIGINT during a checkpoint '
                'write, which completed; stopped at iteration '
                f'{runner.iter}.')

    def after_run(self, runner) -> None:
        self._training = False
        self._restore()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        # mmengine increments runner.iter after this hook.
        self._stop_if_signalled(runner, runner.iter + 1)

    def _stop_if_signalled(self, runner, step: int) -> None:
        """After iteration ``step``: save it and exit if a signal came."""
        received = self._received or 0
        if get_world_size() > 1:
            flag = torch.tensor(received, device=get_comm_device())
            all_reduce(flag, op='max')
            received = int(flag)
        if not received:
            return
        self._received = received
        name = signal.Signals(received).name
        if received == signal.SIGINT:
            self._exit(
                received, 'Interrupted by SIGINT during a checkpoint write, '
                f'which completed; stopped at iteration {step}.')
        saver = next((hook for hook in runner.hooks
                      if isinstance(hook, CheckpointHook)), None)
        if saver is None or saver.by_epoch:
            self._exit(
                received, f'Received {name} at iteration {step}; nothing '
                'saved (no iteration-based CheckpointHook); exiting with '
                f'code {exit_code(received)}.')
        path = saver.file_backend.join_path(saver.out_dir,
                                            saver.filename_tmpl.format(step))
        if saver.last_ckpt != path:
            saver._save_checkpoint_with_step(
                runner, step, meta=dict(epoch=runner.epoch, iter=step))
        # Rank 0 writes; no rank exits before the file is in place (srun
        # --kill-on-bad-exit would end rank 0 when another exits non-zero).
        barrier()
        self._exit(
            received, f'Received {name}: saved {path} at iteration {step}; '
            f'exiting with code {exit_code(received)}, continue with '
            '--resume.')
