"""Keep what a distributed run validates and saves the same on every rank.

With plain ``BN`` each process updates its BatchNorm running statistics from
its own images only, so after an iteration every rank holds different
``running_mean``/``running_var``. Each rank then validates its share of the
val set with its own statistics, while the checkpoint holds rank 0's: the
logged val mIoU is not the score of the saved checkpoint (86.73 against
86.81 for the demo on 2 processes). :class:`DistributedStateHook` averages
those buffers over the ranks after every training iteration (mmdet's
``SyncNormHook`` for YOLOX averages them the same way, before validation),
so that the checkpoint, the validation and every later save (an interval, a
best or a preemption checkpoint) all see one set of statistics.

mmengine's ``SyncBuffersHook`` averages every buffer only in
``after_train_epoch`` and ``before_val_epoch``: with ``IterBasedTrainLoop``
the checkpoint hook saves in ``after_train_iter``, before the val loop runs,
so the checkpoint would still hold rank 0's unaveraged statistics.

The hook also records the world size in each checkpoint's ``meta`` and, when
a run resumes with another number of processes, says what that changes.
"""
import logging
from typing import List, Optional

import torch
from mmengine.dist import all_reduce_params, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['DistributedStateHook']


def _diverging_norm_buffers(model: nn.Module) -> List[torch.Tensor]:
    """The running statistics that each rank updates from its own batch.

    Only BatchNorm layers in training mode that track running statistics
    change them; synchronised BatchNorm (torch's, mmcv's or fcn_mm's
    ``CPUSyncBatchNorm``) already computes them over all ranks, and frozen
    (eval-mode) layers leave them alone, so averaging those would only add
    rounding. ``num_batches_tracked`` counts iterations, equal on all ranks.
    """
    buffers = []
    for module in model.modules():
        if (not isinstance(module, _BatchNorm) or not module.training
                or not module.track_running_stats
                or module.running_mean is None
                or _is_synchronised(module)):
            continue
        buffers += [module.running_mean, module.running_var]
    return buffers


def _is_synchronised(module: nn.Module) -> bool:
    """Whether ``module`` normalises with statistics of all ranks."""
    # Imported here: .sync_bn is loaded with the distributed set-up only.
    from ..sync_bn import CPUSyncBatchNorm
    return isinstance(module, (nn.SyncBatchNorm, CPUSyncBatchNorm))


@HOOKS.register_module()
class DistributedStateHook(Hook):
    """Average BatchNorm running statistics over the ranks after every
    training iteration, and record the world size in checkpoints.

    After each iteration the running mean and variance of every plain BN
    layer in training mode become their mean over the ranks (one all-reduce
    of a few thousand numbers per iteration, next to DDP's all-reduce of
    every gradient). The weights do not change: in training mode BN
    normalises with the batch statistics, not the running ones. Every
    checkpoint's ``meta`` gets ``world_size`` and ``batch_size_per_process``;
    a resume with another world size logs one warning with the old and new
    effective batch size.

    Does nothing in a single process.
    """

    # Before the checkpoint hook (VERY_LOW) and any other hook that saves in
    # after_train_iter, so that every save sees the averaged statistics.
    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._resumed_meta: Optional[dict] = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if not is_distributed():
            return
        model = runner.model
        buffers = _diverging_norm_buffers(getattr(model, 'module', model))
        if buffers:
            all_reduce_params(buffers, op='mean')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta['world_size'] = runner.world_size
        batch_size = _batch_size_per_process(runner)
        if batch_size is not None:
            meta['batch_size_per_process'] = batch_size

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Resume and load_from both load here; before_train tells them apart.
        self._resumed_meta = checkpoint.get('meta') or {}

    def before_train(self, runner) -> None:
        meta, self._resumed_meta = self._resumed_meta, None
        if meta is None or 'world_size' not in meta or (runner.iter == 0
                                                        and runner.epoch == 0):
            return  # nothing loaded, an old checkpoint, or load_from
        message = world_size_change(
            old_world_size=meta['world_size'],
            old_batch_size=meta.get('batch_size_per_process'),
            new_world_size=runner.world_size,
            new_batch_size=_batch_size_per_process(runner))
        if message:
            print_log(message, logger='current', level=logging.WARNING)


def _batch_size_per_process(runner) -> Optional[int]:
    """The training batch size of one process, or None when unknown."""
    loader = runner.train_dataloader
    if isinstance(loader, dict):  # not built yet
        return loader.get('batch_size')
    return getattr(loader, 'batch_size', None)


def world_size_change(*, old_world_size: int, old_batch_size: Optional[int],
                      new_world_size: int,
                      new_batch_size: Optional[int]) -> Optional[str]:
    """What resuming a run on ``new_world_size`` processes changes.

    Args:
        old_world_size (int): Processes of the run that saved the checkpoint.
        old_batch_size (int, optional): Its batch size per process.
        new_world_size (int): Processes of the resumed run.
        new_batch_size (int, optional): Its batch size per process.

    Returns:
        str | None: One line for the log, or None when the world size is
        unchanged.
    """
    if old_world_size == new_world_size:
        return None
    old = new = 'unknown'
    if old_batch_size is not None:
        old = f'{old_world_size * old_batch_size} ({old_world_size} x ' \
              f'{old_batch_size})'
    if new_batch_size is not None:
        new = f'{new_world_size * new_batch_size} ({new_world_size} x ' \
              f'{new_batch_size})'
    return (f'Resuming a run of {old_world_size} processes on '
            f'{new_world_size}: the effective batch size changes from {old} '
            f'to {new}, while the learning rate and its schedule continue '
            'as saved in the checkpoint (auto_scale_lr does not rescale a '
            'resumed run). To keep the effective batch, resume on '
            f'{old_world_size} processes or set train_dataloader.batch_size.')
