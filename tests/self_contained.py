"""The test suite reads nothing beside the repository.

A user's clone has nothing next to it, so a test that reads a sibling of the
repository (``../shared``, ``../data``) passes in one checkout and fails in
every other. :func:`install` adds a Python audit hook (PEP 578) that refuses,
in the test process, every open, listing, glob or copy of a path that lies
beside the repository, and every subprocess whose arguments name one, with an
:class:`OutsideRepositoryError` naming the path. Paths inside the repository,
the interpreter's prefixes and ``sys.path``, the temporary folder and hidden
siblings (``~/.cache`` when the clone sits in a home folder) stay allowed.

Audit hooks cannot be removed, so the hook checks :data:`ACTIVE` and the
negative-control test can see it refuse without leaving it off.
"""
import functools
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
ACTIVE = True

# Audit events whose arguments start with a path (CPython 3.11's table).
_PATH_EVENTS = frozenset({
    'open', 'os.listdir', 'os.scandir', 'glob.glob', 'glob.glob/2',
    'shutil.copyfile', 'shutil.copytree', 'os.chdir', 'os.walk',
})


class OutsideRepositoryError(PermissionError):
    """A test touched a path beside the repository."""


@functools.lru_cache(maxsize=8)
def _roots(search_path: tuple) -> Tuple[Path, ...]:
    roots = [tempfile.gettempdir(), sys.prefix, sys.base_prefix,
             sys.exec_prefix, *search_path]
    return tuple(Path(os.path.realpath(r)) for r in roots if r)


def _allowed_roots() -> Tuple[Path, ...]:
    return _roots(tuple(sys.path))


def outside_path(path, parent: Path = REPO.parent,
                 allowed: Optional[Iterable[Path]] = None) -> Optional[Path]:
    """The resolved ``path`` if it lies beside the repository (under
    ``parent`` but not under the repository or an allowed root), else None."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)) or parent == Path('/'):
        return None
    resolved = Path(os.path.abspath(os.fspath(path)))
    if not resolved.is_relative_to(parent):
        return None
    relative = resolved.relative_to(parent).parts
    if not relative or relative[0].startswith('.') or \
            resolved.is_relative_to(REPO):
        return None
    roots = _allowed_roots() if allowed is None else allowed
    # A root above the clone's folder (/tmp for a clone in /tmp/x/fcn_mm)
    # would allow every sibling; it allows nothing beside the clone. A root
    # that is the clone's folder itself (a clone in /tmp) leaves nothing to
    # guard there.
    if any(resolved.is_relative_to(root) for root in roots
           if root == parent or not parent.is_relative_to(root)):
        return None
    return resolved


def _command_paths(args) -> list:
    """Absolute paths named by a command line, ``key=/path`` included."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    found = []
    for arg in args or ():
        text = os.fsdecode(arg) if isinstance(arg, bytes) else str(arg)
        value = text.rsplit('=', 1)[-1]
        if os.path.isabs(value):
            found.append(value)
    return found


def _hook(event: str, args: tuple) -> None:
    if not ACTIVE:
        return
    if event in _PATH_EVENTS and args:
        candidates = [args[0]]
        if event.startswith('shutil.copy'):
            candidates.append(args[1])
    elif event == 'subprocess.Popen' and len(args) > 1:
        candidates = _command_paths(args[1])
    else:
        return
    for candidate in candidates:
        outside = outside_path(candidate)
        if outside is not None:
            raise OutsideRepositoryError(
                f'{event}: {outside} lies beside the repository {REPO}; a '
                "user's clone has nothing there. Copy what the test needs "
                'into tests/data/ (see tests/data/real_samples/README.md) or '
                'generate it in tmp_path.')


def install() -> None:
    """Add the audit hook to this process (once)."""
    if not getattr(sys, '_fcn_mm_self_contained', False):
        sys.addaudithook(_hook)
        sys._fcn_mm_self_contained = True
