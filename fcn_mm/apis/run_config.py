"""Turning the command lines of tools/train.py and tools/test.py into a run.

The options and their meaning follow mmseg 1.x's own tools (``--work-dir``,
``--cfg-options``, ``--launcher``, ``--amp``, ``--resume``, ``--out``,
``--show-dir``, ``--tta``), so users' habits carry over.
"""
import logging
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from ..engine.console import filter_upstream_warnings
from ..errors import ConfigError, FcnMmError, MissingConfigKeyError
from ..fileio import global_rank, lock_folder
from .preflight import (check_class_count, check_config_arguments,
                        follow_max_iters, pretrained_into_init_cfg)

__all__ = [
    'load_run_config', 'enable_amp', 'drop_training', 'enable_test_outputs',
    'enable_tta', 'missing_file', 'claim_output_dir', 'OutputDirError'
]

OUT_LOCK = '.fcn_mm_out.lock'  # held in --out by the run writing there
# Where each launcher puts the global rank before mmengine sets RANK (as
# fcn_mm.engine.runner.lock_work_dir reads it).
_held_locks: List[int] = []  # descriptors kept open until the process ends


def missing_file(path: str) -> Optional[str]:
    """Why ``path`` cannot be read, or None for a local file or a URL."""
    if '://' in path or osp.isfile(path):
        return None
    return (f'no file at {path!r} (looked from {os.getcwd()}); give the path '
            'of an existing file, e.g. configs/fcn8s_voc_aug.py for a config')


def _located(error: SyntaxError, config: str) -> SyntaxError:
    """mmengine's config syntax error (``File "<unknown>"``) compiled again
    with its file name, so that the traceback shows the file, line and text.

    The broken file is the one mmengine was reading: a base file of
    ``config``, or ``config`` itself.
    """
    tb, read = error.__traceback__, []
    while tb is not None:
        if 'mmengine' in tb.tb_frame.f_code.co_filename:
            read.append(tb.tb_frame.f_locals.get('filename'))
        tb = tb.tb_next
    for path in [p for p in reversed(read) if isinstance(p, str)] + [config]:
        try:
            with open(path, encoding='utf-8') as f:
                compile(f.read(), path, 'exec')
        except SyntaxError as located:
            return located
        except OSError:
            continue
    return error


def load_run_config(config: str,
                    *,
                    work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none',
                    local_rank: int = 0) -> Config:
    """Load a config and apply the shared command-line options to it.

    The work dir is, in order of priority: ``work_dir``, the config's own
    ``work_dir``, ``./work_dirs/<config file stem>``. ``LOCAL_RANK`` is set in
    the environment unless a launcher already set it. Iteration-based
    learning-rate schedules are made to end at ``train_cfg.max_iters``
    (:func:`fcn_mm.apis.preflight.follow_max_iters`), mmseg 0.x's
    ``model.pretrained`` becomes the backbone's ``init_cfg``
    (:func:`~fcn_mm.apis.preflight.pretrained_into_init_cfg`) and every
    keyword argument of the hooks, optimizer, schedulers and dataloaders is
    checked against its class
    (:func:`~fcn_mm.apis.preflight.check_config_arguments`); known upstream
    warnings are filtered (:mod:`fcn_mm.engine.console`).

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
        ConfigArgumentError: An entry passes a keyword argument that its
            class does not take; names the key and the closest valid one.
    """
    problem = missing_file(config)
    if problem:
        raise FileNotFoundError(problem)
    filter_upstream_warnings()  # before mmseg:: bases and models load
    os.environ.setdefault('LOCAL_RANK', str(local_rank))
    try:
        cfg = Config.fromfile(config)
    except SyntaxError as error:
        # The located error says all; mmengine's frames would repeat
        # "<unknown>".
        raise _located(error, config) from None
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    follow_max_iters(cfg)
    pretrained_into_init_cfg(cfg)
    check_config_arguments(cfg)
    check_class_count(cfg)
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
        ConfigError: The optimizer wrapper is not ``OptimWrapper`` and not
            already a mixed-precision one (a ``ValueError``).
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
        raise ConfigError(
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
        MissingConfigKeyError: ``show_dir`` is given but the config has no
            ``default_hooks.visualization`` (a ``KeyError``).
    """
    if out is not None:
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True
        # fcn_mm's subclass writes each PNG atomically and fails loudly.
        if cfg.test_evaluator.get('type') == 'IoUMetric':
            cfg.test_evaluator['type'] = 'AtomicIoUMetric'
    if show_dir is not None:
        if 'visualization' not in cfg.default_hooks:
            raise MissingConfigKeyError(
                '--show-dir needs default_hooks.visualization in the config, '
                "e.g. visualization=dict(type='SegVisualizationHook')")
        cfg.default_hooks.visualization.draw = True
        # The hook paints every `interval`-th image (50 by default), which
        # skips all of a small test set; --show-dir asks for all of them.
        cfg.default_hooks.visualization.interval = 1
        cfg.visualizer.save_dir = show_dir
        # mmengine's LocalVisBackend ignores a failed cv2.imwrite.
        cfg.visualizer.vis_backends = [
            dict(backend, type='AtomicLocalVisBackend')
            if backend.get('type') == 'LocalVisBackend' else backend
            for backend in cfg.visualizer.vis_backends
        ]


def enable_tta(cfg: Config) -> None:
    """Test with the config's test-time augmentation.

    Args:
        cfg (Config): The config; its test pipeline becomes
            ``cfg.tta_pipeline`` and its model is wrapped in ``cfg.tta_model``.

    Raises:
        MissingConfigKeyError: The config lacks ``tta_pipeline`` or
            ``tta_model`` (a ``KeyError``).
    """
    missing = [key for key in ('tta_pipeline', 'tta_model') if key not in cfg]
    if missing:
        raise MissingConfigKeyError(
            f'--tta needs {" and ".join(missing)} in the config; inherit '
            "configs/_base_/datasets/voc12_aug.py and mmseg's "
            'default_runtime.py, or define them.')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


class OutputDirError(FcnMmError, FileExistsError):
    """An output folder holds another run's files, or another run writes
    there now."""


def claim_output_dir(out: str, *, overwrite: bool = False) -> None:
    """Hold ``out`` for this run's predictions until the process ends.

    Two test runs writing PNGs of the same names into one folder would leave
    a mix of both. The folder is locked (``fcntl.lockf`` on
    ``<out>/.fcn_mm_out.lock``, released by the kernel however the process
    ends), and a folder that already holds files is refused unless
    ``overwrite``. Only the process of global rank 0 checks and locks.

    Args:
        out (str): The ``--out`` folder; created if missing.
        overwrite (bool): Write into a folder that holds files (files of the
            same names are replaced, others kept). Defaults to False.

    Raises:
        OutputDirError: Another live run holds ``out`` (named by PID), or
            ``out`` holds files and ``overwrite`` is False.
    """
    if global_rank() != '0':
        return
    fd, holder = lock_folder(out, OUT_LOCK)
    if fd < 0:
        raise OutputDirError(
            f'--out {out} is in use by another run (PID {holder}, see '
            f'{osp.join(out, OUT_LOCK)}); wait for it, or give another --out')
    existing = sorted(e for e in os.listdir(out) if e != OUT_LOCK)
    if existing and not overwrite:
        os.close(fd)
        raise OutputDirError(
            f'--out {out} already holds {len(existing)} files (e.g. '
            f'{existing[0]}), from an earlier run; give an empty or new '
            'folder, or pass --overwrite to replace files of the same names')
    _held_locks.append(fd)
