"""Building the runner for a config, on GPUs or on CPU processes, and holding
a work dir for one training run at a time."""
import errno
import fcntl
import os
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from ..errors import FcnMmError
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
_RANK_VARIABLES = ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK')


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
    rank = next((os.environ[v] for v in _RANK_VARIABLES if v in os.environ),
                '0')
    if rank != '0':
        return -1
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EAGAIN):
            os.close(fd)
            raise
        holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
        os.close(fd)
        raise WorkDirBusyError(
            f'work dir {work_dir} is in use by another training run (PID '
            f'{holder or "unknown"}, see {path}). Wait for it to finish or '
            'stop it, or train in another work dir with --work-dir.') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
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
