"""The command line that the tools share, and how they end on an error.

The options and their meaning follow mmseg 1.x's own tools (``--work-dir``,
``--cfg-options``, ``--launcher``, ``--local-rank``), so users' habits carry
over; :func:`run_config_from_args` turns them into the run's config.
:func:`one_line_errors` ends a tool on an expected error (a full disk, a
config mistake, any :class:`fcn_mm.errors.FcnMmError`) with one line and the
log file that holds the traceback, instead of a traceback.
"""
import argparse
import errno
import functools
import logging
import os
import traceback
from typing import Callable, Optional

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from ..engine.launch_check import launcher_problem
from ..errors import FcnMmError
from .run_config import load_run_config, missing_file

__all__ = [
    'EXPECTED_ERRNOS', 'add_runner_arguments', 'existing_file',
    'expected_error_message', 'one_line_errors', 'run_config_from_args'
]

# A write that the machine refused: a full disk or quota, a read-only or
# unwritable folder, a name too long for the file system, a missing folder.
EXPECTED_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
    errno.ENAMETOOLONG, errno.ENOENT
})
# Where mmengine raises KeyError or AttributeError for a config mistake: a
# type that is not registered, a key missing from a Config or ConfigDict.
_CONFIG_ERROR_MODULES = (f'mmengine{os.sep}registry{os.sep}',
                             f'mmengine{os.sep}config{os.sep}')


def existing_file(path: str) -> str:
    """Argparse ``type`` that accepts a local file, or a URL left to mmengine.

    Args:
        path (str): The command-line value.

    Returns:
        str: ``path`` unchanged.

    Raises:
        argparse.ArgumentTypeError: ``path`` is local and not a file.
    """
    problem = missing_file(path)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return path


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options both tools share: work dir, config edits, launcher.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--work-dir',
        help='directory for logs, checkpoints and metrics; defaults to the '
        "config's work_dir, else ./work_dirs/<config name>")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (nested keys with dots, '
        'lists as key="[a,b]" or key=a,b, no spaces), e.g. '
        'train_cfg.max_iters=1000 train_dataloader.batch_size=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='how the processes of a distributed run were started')
    # torch.distributed.launch passes --local-rank from torch 2.0 on and
    # --local_rank before; accept both.
    parser.add_argument(
        '--local-rank', '--local_rank', dest='local_rank', type=int,
        default=0, help='rank of this process on its machine')


def run_config_from_args(args: argparse.Namespace) -> Config:
    """The config of a run from a tool's parsed command line.

    Args:
        args (argparse.Namespace): With ``config`` and the options of
            :func:`add_runner_arguments`.

    Returns:
        Config: See :func:`fcn_mm.apis.run_config.load_run_config`.

    Raises:
        SystemExit: ``--launcher`` is not 'none' but the environment lacks
            what that launcher sets; the one-line message says what to do.
    """
    problem = launcher_problem(args.launcher)
    if problem:
        raise SystemExit(f'error: {problem}')
    return load_run_config(
        args.config,
        work_dir=args.work_dir,
        cfg_options=args.cfg_options,
        launcher=args.launcher,
        local_rank=args.local_rank)


def _raised_in(error: BaseException, places) -> bool:
    """Whether the innermost frame of ``error`` runs a file under one of
    ``places``."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and any(
        place in tb.tb_frame.f_code.co_filename for place in places)


def expected_error_message(error: BaseException) -> Optional[str]:
    """The one line a tool ends with for ``error``, or None for a bug.

    Expected: every :class:`~fcn_mm.errors.FcnMmError`, a
    ``FileNotFoundError``, an ``OSError`` whose errno is in
    :data:`EXPECTED_ERRNOS` (its message names the path), and the
    ``KeyError`` or ``AttributeError`` that mmengine's registry or config
    raises for a config mistake (a type not registered, a missing key).

    Args:
        error (BaseException): What the tool raised.

    Returns:
        str, optional: ``error: <message>``; None when the error is not an
        expected one and its traceback should show.
    """
    if isinstance(error, OSError) and not isinstance(error, FcnMmError):
        if not (isinstance(error, FileNotFoundError)
                or error.errno in EXPECTED_ERRNOS):
            return None
    elif isinstance(error, (KeyError, AttributeError)) and not isinstance(
            error, FcnMmError):
        if not _raised_in(error, _CONFIG_ERROR_MODULES):
            return None
        return f'error: config: {error.args[0] if error.args else error}'
    elif not isinstance(error, FcnMmError):
        return None
    return f'error: {error}'


def _log_file() -> Optional[str]:
    """The file of the current MMLogger (a runner's log), if it has one."""
    for handler in MMLogger.get_current_instance().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def one_line_errors(main: Callable) -> Callable:
    """Make a tool's ``main`` end an expected error with one line.

    The line (see :func:`expected_error_message`) goes to stderr with exit
    status 1 (``SystemExit``); the traceback goes to the run's log file when
    the runner has opened one, and the line names that file. Any other
    error keeps its traceback.

    Args:
        main (Callable): The tool's ``main(argv=None)``.

    Returns:
        Callable: ``main`` with that ending.
    """

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as error:  # noqa: B902 (re-raised unless expected)
            message = expected_error_message(error)
            if message is None:
                raise
            log_file = _log_file()
            try:
                if log_file is not None:
                    with open(log_file, 'a', encoding='utf-8') as f:
                        f.write(''.join(traceback.format_exception(error)))
                    message += f' (traceback in {log_file})'
            except OSError:  # the full disk that stopped the run
                pass
            raise SystemExit(message) from None

    return wrapped
