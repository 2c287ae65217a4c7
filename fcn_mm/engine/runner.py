"""Building the runner for a config, on GPUs or on CPU processes, and holding
a work dir for one training run at a time."""
import os
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from ..errors import FcnMmError
from ..fileio import global_rank, lock_folder
from .checkpoint import CheckpointFitHook

__all__ = [
    'WorkDirBusyError', 'build_runner', 'holds_work_dir', 'lock_work_dir'
]

LOCK_FILE = '.fcn_mm_train.lock'
# The lock file descriptors of this process, by the work dir's real path:
# closing any descriptor of a lock file releases a POSIX lock, so whether this
# process holds a work dir is read from here, never by opening the file again.
_HELD = {}
# Where each launcher puts the global rank before mmengine sets RANK.


class WorkDirBusyError(FcnMmError, RuntimeError):
    """Another live training run holds the work dir."""


def lock_work_dir(work_dir: str) -> int:
    """Hold ``work_dir`` for this training run until the process exits.

    Takes an exclusive POSIX lock (``fcntl.lockf``) on
    ``<work_dir>/.fcn_mm_train.lock`` and writes this process's PID into it.
    The kernel releases the lock when the process ends, however it ends, so
    the lock of a killed run never blocks the next one (``--resume``). Unlike
    ``flock``, the lock is not shared with forked children (data-loader
    workers), which may outlive a killed run for a moment. Only the process
    of global rank 0 locks.

    Args:
        work_dir (str): The run's work dir; created if missing.

    Returns:
        int: The lock file's descriptor (-1 on other ranks); closing it
        releases the lock.

    Raises:
        WorkDirBusyError: A live run holds the work dir; names its PID.
    """
    if global_rank() != '0':
        return -1
    fd, holder = lock_folder(work_dir, LOCK_FILE)
    if fd < 0:
        raise WorkDirBusyError(
            f'work dir {work_dir} is in use by another training run (PID '
            f'{holder}, see {osp.join(work_dir, LOCK_FILE)}). Wait for it to '
            'finish or stop it, or train in another work dir with '
            '--work-dir.')
    _HELD[osp.realpath(work_dir)] = fd
    return fd


def holds_work_dir(work_dir: str) -> bool:
    """Whether this process holds ``work_dir``'s lock (:func:`lock_work_dir`).

    Only the holder may remove what a killed run left in the work dir: any
    other process (``tools/test.py``, a second run refused the lock) could be
    removing the files of a live run.

    Args:
        work_dir (str): The work dir.

    Returns:
        bool: True while the descriptor :func:`lock_work_dir` returned is
        open and still names the work dir's lock file.
    """
    fd = _HELD.get(osp.realpath(work_dir))
    if fd is None:
        return False
    try:
        held, current = os.fstat(fd), os.stat(osp.join(work_dir, LOCK_FILE))
    except OSError:  # the descriptor was closed, or the file removed
        return False
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def build_runner(cfg: Config) -> Runner:
    """Build mmengine's ``Runner``, or the runner named by ``cfg.runner_type``.

    A distributed run on a machine without CUDA gets gloo and CPU DDP first,
    see :func:`fcn_mm.engine.distributed.setup_distributed`. Checkpoints
    loaded for testing or resuming must fit the model
    (:class:`fcn_mm.engine.checkpoint.CheckpointFitHook`).

    Args:
        cfg (Config): The run's config.

    Returns:
        Runner: The runner.
    """
    # Imported here: the checkpoint hook imports this module at ``import
    # fcn_mm``, which loads no distributed set-up.
    from .distributed import setup_distributed
    setup_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(
        cfg)
    runner.register_hook(CheckpointFitHook())
    return runner
