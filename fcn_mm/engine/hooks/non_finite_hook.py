"""Stop training at the first non-finite loss or gradient, before it lands in
the weights or in a checkpoint.

Without it a diverged run (``lr=1e6``: loss inf, then NaN) trains to the end
with NaN weights, exits 0 and replaces the last good checkpoint.
"""
import math
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...errors import FcnMmError

__all__ = ['NonFiniteGuardHook', 'NonFiniteLossError']


class NonFiniteLossError(FcnMmError, RuntimeError):
    """Training met a non-finite loss, gradient or weight."""


def _as_float(value) -> float:
    return float(value.detach()) if torch.is_tensor(value) else float(value)


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Refuse optimizer steps on non-finite gradients; stop on a non-finite
    loss or gradient norm, or skip a bounded number of such steps.

    Before every optimizer step (a ``torch.optim`` step pre-hook) it computes
    the total gradient norm; when that is not finite it drops the gradients,
    so the step leaves the weights and the optimizer state unchanged. After
    the iteration it raises :class:`NonFiniteLossError`, naming the iteration
    and the loss terms, unless ``max_skips`` allows skipping the step. With
    ``AmpOptimWrapper`` the loss scaler skips inf/NaN gradient steps itself
    (that is how it calibrates), so only a non-finite loss counts there.
    Before a checkpoint is written it checks that every weight is finite.

    Args:
        max_skips (int): How many non-finite steps a run may skip, in total,
            before it stops. Defaults to 0 (stop at the first).
    """

    priority = 'NORMAL'  # after RuntimeInfoHook, before the checkpoint hook

    def __init__(self, max_skips: int = 0) -> None:
        if not isinstance(max_skips, int) or max_skips < 0:
            raise ValueError(
                f'NonFiniteGuardHook: max_skips must be an integer >= 0, got '
                f'{max_skips!r}')
        self.max_skips = max_skips
        self.skipped = 0
        self._grad_norm: Optional[float] = None
        self._handles = []

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        # An OptimWrapperDict (several optimizers) is a dict of wrappers.
        wrappers = wrapper.values() if hasattr(wrapper, 'values') else [
            wrapper
        ]
        self._handles = [
            w.optimizer.register_step_pre_hook(self._drop_non_finite)
            for w in wrappers
        ]

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _drop_non_finite(self, optimizer, args, kwargs) -> None:
        grads = [
            p.grad for group in optimizer.param_groups
            for p in group['params'] if p.grad is not None
        ]
        if not grads:
            return
        norm = torch.nn.utils.get_total_norm(grads)
        if bool(torch.isfinite(norm)):
            return
        self._grad_norm = float(norm)
        for group in optimizer.param_groups:
            for p in group['params']:
                # torch's optimizers skip parameters without a gradient.
                p.grad = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        grad_norm, self._grad_norm = self._grad_norm, None
        terms = {
            name: _as_float(value)
            for name, value in (outputs or {}).items() if 'loss' in name
        }
        if grad_norm is None and all(map(math.isfinite, terms.values())):
            return
        listed = ', '.join(f'{name}={value:.4g}'
                           for name, value in terms.items())
        what = (f'iteration {runner.iter + 1}: non-finite training step '
                f'(losses: {listed}; gradient norm: '
                f'{"not finite" if grad_norm is not None else "finite"})')
        if self.skipped < self.max_skips:
            self.skipped += 1
            runner.logger.warning(
                f'{what}; the update was skipped ({self.skipped} of '
                f'max_skips={self.max_skips}).')
            return
        raise NonFiniteLossError(
            f'{what}. Training stopped: this step did not change the weights '
            'and no checkpoint was written after it, so the last checkpoint '
            'is the last good state. Lower the learning rate, clip gradients '
            '(optim_wrapper.clip_grad=dict(max_norm=...)), or let the run '
            'skip a few such steps with --cfg-options '
            'default_hooks.non_finite.max_skips=N.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = [
            name for name, value in checkpoint.get('state_dict', {}).items()
            if torch.is_tensor(value) and value.is_floating_point()
            and not bool(torch.isfinite(value).all())
        ]
        if bad:
            raise NonFiniteLossError(
                f'iteration {runner.iter + 1}: refusing to write a checkpoint '
                f'whose weights hold NaN/inf ({len(bad)} tensors, e.g. '
                f'{", ".join(bad[:5])}); the last checkpoint written is kept.')
