"""Turning the command lines of tools/train.py and tools/test.py into a run.

The options and their meaning follow mmseg 1.x's own tools (``--work-dir``,
``--cfg-options``, ``--launcher``, ``--amp``, ``--resume``, ``--out``,
``--show-dir``, ``--tta``), so users' habits carry over.
"""
import argparse
import logging
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

__all__ = [
    'add_runner_arguments', 'existing_file', 'load_run_config', 'enable_amp',
    'drop_training', 'enable_test_outputs', 'enable_tta'
]


def _missing_file(path: str) -> Optional[str]:
    """Why ``path`` cannot be read, or None for a local file or a URL."""
    if '://' in path or osp.isfile(path):
        return None
    return (f'no file at {path!r} (looked from {os.getcwd()}); give the path '
            'of an existing file, e.g. configs/fcn8s_voc_aug.py for a config')


def existing_file(path: str) -> str:
    """Argparse ``type`` that accepts a local file, or a URL left to mmengine.

    Args:
        path (str): The command-line value.

    Returns:
        str: ``path`` unchanged.

    Raises:
        argparse.ArgumentTypeError: ``path`` is local and not a file.
    """
    problem = _missing_file(path)
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


def load_run_config(config: str,
                    *,
                    work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none',
                    local_rank: int = 0) -> Config:
    """Load a config and apply the shared command-line options to it.

    The work dir is, in order of priority: ``work_dir``, the config's own
    ``work_dir``, ``./work_dirs/<config file stem>``. ``LOCAL_RANK`` is set in
    the environment unless a launcher already set it.

    Args:
        config (str): Path of the config file.
        work_dir (str, optional): ``--work-dir``. Defaults to None.
        cfg_options (dict, optional): ``--cfg-options``, merged into the
            config last. Defaults to None.
        launcher (str): ``--launcher``. Defaults to 'none'.
        local_rank (int): ``--local-rank``. Defaults to 0.

    Returns:
        Config: The config, ready for :func:`build_runner`.

    Raises:
        FileNotFoundError: ``config`` is not a file.
    """
    problem = _missing_file(config)
    if problem:
        raise FileNotFoundError(problem)
    os.environ.setdefault('LOCAL_RANK', str(local_rank))
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def enable_amp(cfg: Config, *, cuda: Optional[bool] = None) -> None:
    """Train with automatic mixed precision.

    With CUDA: mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scale).
    Without: :class:`fcn_mm.engine.optim_wrapper.CPUAmpOptimWrapper` (bf16
    autocast, which needs no loss scale).

    Args:
        cfg (Config): The config; its ``optim_wrapper`` is changed in place.
        cuda (bool, optional): Whether the run has CUDA. Defaults to None
            (``torch.cuda.is_available()``).

    Raises:
        ValueError: The optimizer wrapper is not ``OptimWrapper`` and not
            already a mixed-precision one.
    """
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        print_log(f'--amp: the config already trains with {wrapper_type}.',
                  logger='current', level=logging.WARNING)
        return
    if cuda is None:
        cuda = torch.cuda.is_available()
    amp_type = 'AmpOptimWrapper' if cuda else 'CPUAmpOptimWrapper'
    if wrapper_type != 'OptimWrapper':
        raise ValueError(
            f'--amp turns optim_wrapper type OptimWrapper into {amp_type}, '
            f'but the config has {wrapper_type!r}; set optim_wrapper.type='
            f'{amp_type} in the config instead.')
    cfg.optim_wrapper.type = amp_type
    if amp_type == 'AmpOptimWrapper':
        cfg.optim_wrapper.loss_scale = 'dynamic'


def drop_training(cfg: Config) -> None:
    """Remove the training parts of a config for a test-only run.

    mmseg's ``SegVisualizationHook`` reads ``runner.iter``, which builds the
    training loop, and so the training set, if the config has one; without
    them a test needs only the test data on disk.

    Args:
        cfg (Config): The config, changed in place.
    """
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler'):
        cfg[key] = None


def enable_test_outputs(cfg: Config,
                        *,
                        out: Optional[str] = None,
                        show_dir: Optional[str] = None) -> None:
    """Save predictions and painted results of a test run.

    Args:
        cfg (Config): The config, changed in place.
        out (str, optional): Directory where ``IoUMetric`` writes each
            prediction as a PNG of class indices named after its image.
            Defaults to None (not saved).
        show_dir (str, optional): Directory where ``SegVisualizationHook``
            paints every test image with its prediction, under
            ``vis_data/vis_image/``. Defaults to None (nothing painted).

    Raises:
        KeyError: ``show_dir`` is given but the config has no
            ``default_hooks.visualization``.
    """
    if out is not None:
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True
    if show_dir is not None:
        if 'visualization' not in cfg.default_hooks:
            raise KeyError(
                '--show-dir needs default_hooks.visualization in the config, '
                "e.g. visualization=dict(type='SegVisualizationHook')")
        cfg.default_hooks.visualization.draw = True
        # The hook paints every `interval`-th image (50 by default), which
        # skips all of a small test set; --show-dir asks for all of them.
        cfg.default_hooks.visualization.interval = 1
        cfg.visualizer.save_dir = show_dir


def enable_tta(cfg: Config) -> None:
    """Test with the config's test-time augmentation.

    Args:
        cfg (Config): The config; its test pipeline becomes
            ``cfg.tta_pipeline`` and its model is wrapped in ``cfg.tta_model``.

    Raises:
        KeyError: The config lacks ``tta_pipeline`` or ``tta_model``.
    """
    missing = [key for key in ('tta_pipeline', 'tta_model') if key not in cfg]
    if missing:
        raise KeyError(f'--tta needs {" and ".join(missing)} in the config; '
                       "inherit configs/_base_/datasets/voc12_aug.py and "
                       "mmseg's default_runtime.py, or define them.")
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model
