"""Atomic file writes, and palette-mode PNGs: how VOC stores labels and how
fcn_mm shows predictions.

The write-to-a-temporary-then-rename pattern is the one
``torch.distributed.checkpoint`` and orbax use for checkpoints: a reader (or a
run resumed after a kill) sees the old file or the complete new one.
"""
import errno
import fcntl
import os
import os.path as osp
import uuid
from typing import Callable, List, Sequence, Tuple, Union

import numpy as np
from PIL import Image

PathLike = Union[str, os.PathLike]
TMP_SUFFIX = '.fcn_mm_tmp'
# Longest file name, in bytes, on ext4, xfs, btrfs and tmpfs (NAME_MAX).
NAME_MAX = 255
# Where torchrun, Slurm and Open MPI put a process's global rank.
_RANK_VARIABLES = ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK')


def temporary_name(name: str, tag: str = '') -> str:
    """A hidden temporary name for ``name`` in the same folder.

    ``.<name>.<tag><8 random hex digits>.fcn_mm_tmp``, with ``<name>`` cut
    so that the whole stays within :data:`NAME_MAX` bytes: a legal final name
    of 229 characters must not fail on its temporary (``Errno 36``).

    Args:
        name (str): The final file name (no folder).
        tag (str): See :func:`atomic_write`.

    Returns:
        str: The temporary file name.
    """
    rest = f'.{tag}{uuid.uuid4().hex[:8]}{TMP_SUFFIX}'
    budget = NAME_MAX - 1 - len(rest.encode())
    # Cut in bytes, dropping a character that the cut splits.
    kept = name.encode()[:max(budget, 0)].decode(errors='ignore')
    return f'.{kept}{rest}'


def atomic_write(path: PathLike,
                 write: Callable,
                 tag: str = '',
                 *,
                 fsync: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename.

    ``path`` therefore holds either its old content or the complete new one,
    whatever happens during the write.

    Args:
        path (str | PathLike): Final destination.
        write (Callable): Writes the content to a binary file object.
        tag (str): Extra text in the temporary name, so that a caller can find
            and remove its temporaries if a worker process is killed.
        fsync (bool): Flush the file to the disk before the rename and the
            folder after it, so that the new content survives a power loss
            or a killed machine, not only a killed process. Defaults to False.

    Raises:
        OSError: The write failed (a full disk, a read-only folder); the
            message names ``path`` and the reason, and ``path`` keeps its old
            content.
    """
    folder, name = osp.split(osp.abspath(path))
    tmp_path = osp.join(folder, temporary_name(name, tag))
    try:
        # Unlike tempfile.mkstemp (mode 0600) this honours the umask, so the
        # final file gets the permissions a plain open() would give it.
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, 'wb') as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp_path, path)
        if fsync:
            fsync_folder(folder)
    except BaseException as error:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(error.errno,
                          f'{error.strerror}: could not write {path} (it '
                          'keeps its previous content, if any)') from error
        raise


def fsync_folder(folder: PathLike) -> None:
    """Flush a folder's entries (a rename, a new file) to the disk.

    Args:
        folder (str | PathLike): The folder.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: PathLike, tag: str = '') -> List[str]:
    """Remove what :func:`atomic_write` calls with ``tag`` left behind in
    ``folder`` when their process was killed mid-write.

    Call it only while no other process writes there with the same tag.

    Args:
        folder (str | PathLike): Folder to clean (not recursive).
        tag (str): The ``tag`` of those calls; '' removes every temporary.

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    for entry in os.scandir(folder):
        if (entry.name.startswith('.') and entry.name.endswith(TMP_SUFFIX)
                and tag in entry.name):
            os.remove(entry.path)
            removed.append(entry.path)
    return removed


def save_palette_png(label: np.ndarray,
                     path: PathLike,
                     palette: Sequence,
                     tag: str = '') -> None:
    """Write a class-index map as a palette ('P') PNG, atomically.

    Args:
        label (np.ndarray): (H, W) class indices in 0..255; they become the
            PNG's palette indices unchanged.
        path (str | PathLike): Destination ``.png`` file.
        palette (Sequence): Colours by class index, either RGB triples or a
            flat R, G, B, R, ... sequence; indices without a colour are black.
        tag (str): See :func:`atomic_write`.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'a label map is (H, W), got shape {label.shape}')
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError('palette PNGs hold indices 0..255, got values in '
                         f'[{label.min()}, {label.max()}] for {path}')
    flat = np.asarray(palette, dtype=np.uint8).reshape(-1)[:768]
    image = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))
    # On an 'L' image putpalette switches the mode to 'P' and keeps the pixel
    # values as palette indices (convert('P') could remap them).
    image.putpalette(flat.tolist())
    atomic_write(path, lambda f: image.save(f, format='PNG'), tag=tag)


def global_rank() -> str:
    """This process's global rank as the launchers set it (torchrun's
    ``RANK``, Slurm's ``SLURM_PROCID``, Open MPI's), ``'0'`` when alone."""
    return next((os.environ[v] for v in _RANK_VARIABLES if v in os.environ),
                '0')


def lock_folder(folder: PathLike, name: str) -> Tuple[int, str]:
    """Take an exclusive POSIX lock on ``<folder>/<name>`` for this process.

    ``fcntl.lockf`` locks die with their process however it ends (a killed
    run never blocks the next), and unlike ``flock`` they are not inherited
    by forked children such as data-loader workers. The holder's PID is
    written into the file so that a refused process can name it.

    Args:
        folder (str | Path): The folder; created if missing.
        name (str): The lock file's name in it.

    Returns:
        tuple[int, str]: ``(descriptor, '')`` when locked (closing the
        descriptor releases the lock), or ``(-1, holder PID)`` when another
        live process holds it.
    """
    os.makedirs(folder, exist_ok=True)
    fd = os.open(osp.join(folder, name), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
        os.close(fd)
        if error.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        return -1, holder or 'unknown'
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    return fd, ''
