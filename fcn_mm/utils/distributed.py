"""Distributed runs on CPU machines: gloo, CPU DDP and a CPU SyncBN.

mmengine 0.10.7 assumes a GPU per process: its ``init_dist`` calls
``torch.cuda.set_device`` and its runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; torch's and mmcv's ``SyncBatchNorm`` refuse CPU
tensors. :func:`setup_distributed` changes the order and the config, not
mmengine: with no CUDA it starts the gloo process group itself before the
runner is built (the runner then skips ``init_dist``) and names
:class:`CPUDistributedDataParallel` as the model wrapper, which runs DDP on
CPU and swaps SyncBN layers for :class:`CPUSyncBatchNorm`. With CUDA nothing
changes: nccl and mmengine's own path.
"""
import datetime
import logging
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    'CPUSyncBatchNorm', 'CPUDistributedDataParallel', 'setup_distributed',
    'init_cpu_process_group'
]


class _AllReduceSum(torch.autograd.Function):
    """Sum over the group; the gradient of every input is the summed
    gradient of the output, since each rank's loss reads the sum."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        tensor = tensor.clone()
        dist.all_reduce(tensor, group=group)
        return tensor

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad = grad_output.clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class CPUSyncBatchNorm(_BatchNorm):
    """Batch normalisation synchronised over a process group of CPU tensors.

    In training with a process group, the batch mean and the biased variance
    are those of the batches of all processes together, as if one process
    had the whole batch; the running variance is the unbiased one, as in
    ``nn.SyncBatchNorm``. In eval, or without a process group, it is plain
    batch normalisation. The state dict is ``nn.SyncBatchNorm``'s, so
    checkpoints move between GPU and CPU runs. It is not a subclass of
    ``nn.SyncBatchNorm``: DDP refuses those in a CPU model.

    Args:
        num_features (int): Channels, C of an (N, C, ...) input.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Weight of the batch in the running
            statistics; None for a cumulative average. Defaults to 0.1.
        affine (bool): Learn a scale and a shift. Defaults to True.
        track_running_stats (bool): Keep running statistics for eval.
            Defaults to True.
        process_group (ProcessGroup, optional): The processes to synchronise
            over. Defaults to None (all of them).
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 process_group=None) -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(
                f'expected an input of at least 2 dims (N, C, ...), got '
                f'{input.dim()}D')

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available()
                and dist.is_initialized()):
            return super().forward(input)
        self._check_input_dim(input)
        group = self.process_group or dist.group.WORLD
        dims = [0, *range(2, input.dim())]  # all but channels
        shape = [1, -1] + [1] * (input.dim() - 2)  # (1, C, 1, ...)
        # Two passes, like a single BatchNorm: the mean, then the squared
        # deviations from it; the count rides along with the sums.
        count = input.new_tensor([input.numel() // input.size(1)])
        totals = _AllReduceSum.apply(torch.cat([input.sum(dims), count]),
                                     group)
        num = totals[-1]
        mean = totals[:-1] / num  # (C,)
        centred = input - mean.view(shape)
        var = _AllReduceSum.apply(centred.square().sum(dims), group) / num
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(),
                                       num.item())
        output = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor,
                              num: float) -> None:
        """Move the running statistics as ``F.batch_norm`` does."""
        self.num_batches_tracked.add_(1)
        factor = (1. / self.num_batches_tracked.item()
                  if self.momentum is None else self.momentum)
        unbiased = var * (num / max(num - 1., 1.))
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)

    @classmethod
    def convert(cls, module: nn.Module) -> nn.Module:
        """Replace every ``nn.SyncBatchNorm`` in ``module`` by this class,
        sharing its parameters and buffers.

        Args:
            module (nn.Module): The model, changed in place.

        Returns:
            nn.Module: ``module``, or its replacement if it is a SyncBN.
        """
        if isinstance(module, nn.SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum,
                            module.affine, module.track_running_stats,
                            module.process_group)
            for name, tensor in [*module.named_parameters(recurse=False),
                                 *module.named_buffers(recurse=False)]:
                setattr(converted, name, tensor)
            converted.train(module.training)
            return converted
        for name, child in module.named_children():
            setattr(module, name, cls.convert(child))
        return module


# mmengine's Runner.wrap_model looks the type up in mmengine's root registry,
# which does not search mmseg's child registry.
@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a model on CPU, with working SyncBN.

    Args:
        module (nn.Module): The model; its ``nn.SyncBatchNorm`` layers become
            :class:`CPUSyncBatchNorm`.
        **kwargs: ``MMDistributedDataParallel``'s arguments; ``device_ids``
            must be None for a CPU module.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        super().__init__(module=CPUSyncBatchNorm.convert(module), **kwargs)


def _slurm_master_addr(node_list: str) -> str:
    """The first host of a Slurm node list such as ``node[01-04]``."""
    hosts = subprocess.run(['scontrol', 'show', 'hostnames', node_list],
                           capture_output=True, text=True, check=True,
                           timeout=30).stdout.split()
    return hosts[0]


def _export_rank_env(launcher: str) -> None:
    """Set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from
    what ``launcher`` sets, as mmengine's ``init_dist`` does on GPUs."""
    env = os.environ
    if launcher == 'slurm':
        env['RANK'] = env['SLURM_PROCID']
        env['WORLD_SIZE'] = env['SLURM_NTASKS']
        env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')
        if 'MASTER_ADDR' not in env:
            env['MASTER_ADDR'] = _slurm_master_addr(env['SLURM_NODELIST'])
    elif launcher == 'mpi':
        env['RANK'] = env['OMPI_COMM_WORLD_RANK']
        env['WORLD_SIZE'] = env['OMPI_COMM_WORLD_SIZE']
        env['LOCAL_RANK'] = env['OMPI_COMM_WORLD_LOCAL_RANK']
    # torch.distributed's default port, as mmengine uses.
    env.setdefault('MASTER_PORT', '29500')


def init_cpu_process_group(launcher: str,
                           timeout: Optional[float] = None) -> None:
    """Start the gloo process group for the processes ``launcher`` started.

    Args:
        launcher (str): 'pytorch' (torchrun), 'slurm' or 'mpi'.
        timeout (float, optional): Seconds a collective may wait for the
            others. Defaults to None (torch's default, 30 minutes).
    """
    _export_rank_env(launcher)
    kwargs = {}
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(
        backend='gloo',
        init_method='env://',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)


def setup_distributed(cfg: Config) -> None:
    """Prepare a distributed run of ``cfg`` on a machine without CUDA.

    With ``cfg.launcher`` 'none', or with CUDA, this does nothing: mmengine
    starts nccl itself. Otherwise it starts the gloo process group (unless
    one exists), records the backend in ``env_cfg.dist_cfg`` and, when the
    config names no other wrapper, wraps the model in
    :class:`CPUDistributedDataParallel` with mmengine's default options.

    Args:
        cfg (Config): The run's config, changed in place.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        # mmseg's default runtime names nccl, so this is no user's mistake.
        print_log(
            f"No CUDA: distributed over gloo on CPU instead of "
            f"{dist_cfg['backend']!r} (env_cfg.dist_cfg.backend).",
            logger='current', level=logging.INFO)
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        init_cpu_process_group(launcher, timeout=dist_cfg.get('timeout'))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'CPUDistributedDataParallel'):
        wrapper['type'] = 'CPUDistributedDataParallel'
        # mmengine only sets device_ids=[LOCAL_RANK] when the config has none.
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
