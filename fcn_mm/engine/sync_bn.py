"""Batch normalisation synchronised over CPU processes (gloo).

torch's and mmcv's ``SyncBatchNorm`` refuse CPU tensors; :class:`CPUSyncBatchNorm`
computes the same statistics with two all-reduces, so a SyncBN config trains
the same on CPU processes as on GPUs. The state dict is ``nn.SyncBatchNorm``'s.
"""
from typing import Optional

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['CPUSyncBatchNorm']


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
