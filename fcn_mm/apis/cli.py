"""The command line that tools/train.py and tools/test.py share.

The options and their meaning follow mmseg 1.x's own tools (``--work-dir``,
``--cfg-options``, ``--launcher``, ``--local-rank``), so users' habits carry
over; :func:`run_config_from_args` turns them into the run's config.
"""
import argparse

from mmengine.config import Config, DictAction

from ..engine.launch_check import launcher_problem
from .run_config import load_run_config, missing_file

__all__ = ['add_runner_arguments', 'existing_file', 'run_config_from_args']


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
