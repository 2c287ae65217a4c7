"""Checkpoints that survive kills and full disks, and resuming from them.

mmengine 0.10.7's ``CheckpointHook`` removes the oldest checkpoint before it
writes the new one, in place, so a kill during the write leaves a truncated
file and, with ``max_keep_ckpts=1``, no good checkpoint at all.
:class:`AtomicCheckpointHook` keeps its options and changes the order, as
``torch.distributed.checkpoint`` and orbax do:

1. an old ``<name>.sha256`` sidecar is removed, the checkpoint goes to a
   temporary file in the same folder, flushed, fsynced and renamed into
   place, then its sha256 to ``<name>.sha256`` the same way
   (:class:`AtomicLocalBackend`), so that a kill leaves a checkpoint with its
   own sidecar or with none, never with another's;
2. ``last_checkpoint`` is replaced the same way, holding a path relative to
   the work dir, so a moved work dir still resumes;
3. only then are the checkpoints beyond ``max_keep_ckpts`` removed: every
   one older than those kept, so that one a killed removal left goes too.

Temporary names carry the writer's PID; only the run holding the work dir
(:func:`fcn_mm.engine.runner.lock_work_dir`) removes them, and only those
whose writer is dead, so ``tools/test.py`` on a live run's work dir removes
nothing. When a run resumes without a named checkpoint (``resume=True``,
``load_from=None``), the hook picks the newest intact checkpoint of the work
dir and names every broken one it skips (:func:`newest_intact_checkpoint`).
"""
import hashlib
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...fileio import TMP_SUFFIX, atomic_write
from ..checkpoint import CHECKSUM_SUFFIX, checkpoint_problem

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'newest_intact_checkpoint',
    'remove_dead_writers_temporaries'
]

LAST_CHECKPOINT = 'last_checkpoint'
# In the name of every temporary file the hook writes, followed by the
# writer's PID, so that the next run in the work dir can remove those a kill
# left behind and keep those of a live writer.
TMP_TAG = 'ckpt.'
# atomic_write's temporary names: .<name>.ckpt.<pid>.<8 hex>.fcn_mm_tmp
_TEMPORARY = re.compile(r'\..+\.' + re.escape(TMP_TAG) +
                        r'(?:(\d+)\.)?[0-9a-f]{8}' + re.escape(TMP_SUFFIX))
# The names mmengine's CheckpointHook gives by default (filename_tmpl).
_CHECKPOINT_NAME = re.compile(r'(?:iter|epoch)_(\d+)\.pth')


def _writer_tag() -> str:
    """The ``atomic_write`` tag of this process's temporaries."""
    return f'{TMP_TAG}{os.getpid()}.'


@register_backend('fcn_mm_atomic')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic, fsynced, checksummed puts.

    ``put`` removes an old ``<file>.sha256``, writes the file, then its
    ``<file>.sha256`` (``sha256sum`` format), each through
    :func:`fcn_mm.fileio.atomic_write`; ``remove`` removes both.
    """

    def put(self, obj: bytes, filepath) -> None:
        os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
        tag = _writer_tag()
        sidecar = f'{filepath}{CHECKSUM_SUFFIX}'
        # Until the new sidecar is in place the file has none, and is checked
        # by its zip CRCs: a kill never pairs a file with another's checksum.
        if osp.isfile(sidecar):
            os.remove(sidecar)
        atomic_write(filepath, lambda f: f.write(obj), tag, fsync=True)
        line = f'{hashlib.sha256(obj).hexdigest()}  {osp.basename(filepath)}\n'
        atomic_write(sidecar, lambda f: f.write(line.encode()), tag,
                     fsync=True)

    def remove(self, filepath) -> None:
        super().remove(filepath)
        if osp.isfile(f'{filepath}{CHECKSUM_SUFFIX}'):
            os.remove(f'{filepath}{CHECKSUM_SUFFIX}')


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``last_checkpoint`` names (relative to ``work_dir``,
    or absolute as mmengine writes it), or None without the file."""
    path = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        name = f.read().strip()
    return osp.join(work_dir, name) if name else None


def newest_intact_checkpoint(
        work_dir: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The newest checkpoint of a work dir that can be resumed from.

    Candidates are, in order: the ``iter_N.pth`` / ``epoch_N.pth`` written
    after ``last_checkpoint`` was (a run killed between renaming a checkpoint
    into place and naming it there), the file ``last_checkpoint`` names, then
    the other numbered ones; numbered ones from the highest N down. Each is
    checked with :func:`fcn_mm.engine.checkpoint.checkpoint_problem` (sha256
    sidecar, or the zip CRCs without one). A checkpoint older than
    ``last_checkpoint`` with a higher N, left by an earlier run in the work
    dir that went further, is therefore not preferred.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        tuple: The path (None if no candidate is intact) and a list of
        ``(path, reason)`` of the broken candidates skipped.
    """
    numbered = sorted(
        ((int(m.group(1)), m.group(0)) for m in map(
            _CHECKPOINT_NAME.fullmatch, os.listdir(work_dir)) if m),
        reverse=True)
    candidates = [osp.join(work_dir, name) for _, name in numbered]
    last = read_last_checkpoint(work_dir)
    if last is not None and osp.isfile(last):
        named_at = os.stat(osp.join(work_dir, LAST_CHECKPOINT)).st_mtime_ns
        newer = [p for p in candidates if os.stat(p).st_mtime_ns > named_at]
        candidates = newer + [last] + candidates
    skipped = []
    for path in dict.fromkeys(candidates):
        problem = checkpoint_problem(path, test_zip=True)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


def _writer_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (as a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_dead_writers_temporaries(work_dir: str) -> List[str]:
    """Remove the hook's temporary files whose writer process is dead.

    Call it only while holding the work dir
    (:func:`fcn_mm.engine.runner.holds_work_dir`). A temporary whose name
    carries no PID (written before PIDs were part of the name) counts as a
    dead writer's.

    Args:
        work_dir (str): The folder the checkpoints are written to.

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    for entry in sorted(os.scandir(work_dir), key=lambda e: e.name):
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or (match.group(1) is not None
                             and int(match.group(1)) != os.getpid()
                             and _writer_alive(int(match.group(1)))):
            continue
        try:
            os.remove(entry.path)
        except FileNotFoundError:  # its writer renamed or removed it
            continue
        removed.append(entry.path)
    return removed


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that writes atomically and removes old checkpoints
    only after the new one is in place; resumes from the newest intact one.

    Takes mmengine's ``CheckpointHook`` arguments; ``backend_args`` defaults
    to :class:`AtomicLocalBackend` (another backend, e.g. a remote one,
    writes as mmengine does).
    """

    def __init__(self, *args, backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        if backend_args is None and kwargs.get('file_client_args') is None:
            backend_args = dict(backend='fcn_mm_atomic')
        super().__init__(*args, backend_args=backend_args, **kwargs)

    def before_run(self, runner) -> None:
        """Remove temporaries of a killed run; choose what to resume."""
        # Here, not at import: engine.runner builds runners, which
        # `import fcn_mm` does not load (tests/test_package.py).
        from ..runner import holds_work_dir
        if holds_work_dir(runner.work_dir):
            for path in remove_dead_writers_temporaries(runner.work_dir):
                runner.logger.info(f'Removed {path}, left by a killed run.')
        # Runner.load_or_resume, which runs after this hook, reads the choice
        # from these two attributes (mmengine 0.10.7).
        if runner._load_from is not None:
            return
        if not runner._resume:
            existing = sorted(n for n in os.listdir(runner.work_dir)
                              if _CHECKPOINT_NAME.fullmatch(n))
            if existing:
                runner.logger.warning(
                    f'{runner.work_dir} holds checkpoints '
                    f'({", ".join(existing)}) but training starts from '
                    'iteration 0, as --resume was not given; stop and add '
                    '--resume to continue instead.')
            return
        path, skipped = newest_intact_checkpoint(runner.work_dir)
        for broken, reason in skipped:
            runner.logger.warning(f'Not resuming from {broken}: {reason}.')
        if path is not None:
            runner.logger.info(f'Resuming from {path}, the newest intact '
                               'checkpoint of the work dir.')
            runner._load_from = path
        elif skipped:
            raise RuntimeError(
                f'--resume: every checkpoint in {runner.work_dir} is broken '
                f'({", ".join(p for p, _ in skipped)}; reasons above). Resume '
                'from a copy with --resume PATH, or train from scratch in a '
                'new work dir.')
        else:
            runner.logger.warning(
                f'--resume: no checkpoint in {runner.work_dir} yet; training '
                'starts from iteration 0.')
            runner._resume = False

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """mmengine's method, with the removal of old checkpoints moved after
        the write and ``last_checkpoint`` written atomically, relative."""
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            # Saved in the checkpoint, so that a resumed run removes them.
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        relative = osp.relpath(self.last_ckpt, runner.work_dir)
        atomic_write(osp.join(runner.work_dir, LAST_CHECKPOINT),
                     lambda f: f.write(relative.encode()), _writer_tag(),
                     fsync=True)
        if self.max_keep_ckpts > 0:
            self._remove_stale_checkpoints(min(self.keep_ckpt_ids))

    def _remove_stale_checkpoints(self, oldest_kept: int) -> None:
        """Remove every checkpoint (and sidecar) numbered below
        ``oldest_kept``, those a kill during an earlier removal left too."""
        numbered = re.compile(
            re.escape(self.filename_tmpl).replace(re.escape('{}'), r'(\d+)') +
            f'(?:{re.escape(CHECKSUM_SUFFIX)})?')
        for name in sorted(self.file_backend.list_dir_or_file(
                self.out_dir, list_dir=False)):
            match = numbered.fullmatch(name)
            if match and int(match.group(1)) < oldest_kept:
                path = self.file_backend.join_path(self.out_dir, name)
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
