"""NonFiniteGuardHook: a non-finite step leaves the weights untouched and
stops the run, or is skipped a bounded number of times."""
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper

from fcn_mm.engine.hooks import NonFiniteGuardHook, NonFiniteLossError

pytestmark = pytest.mark.usefixtures('one_thread')


def _runner(iteration=6):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                weight_decay=1e-4)
    return SimpleNamespace(model=model, optim_wrapper=OptimWrapper(optimizer),
                           iter=iteration,
                           logger=MMLogger.get_instance('non_finite_test'))


def _step(runner, hook, scale):
    """One training step whose loss is ``scale`` times a finite loss."""
    loss = (runner.model(torch.ones(1, 3))**2).sum() * scale
    runner.optim_wrapper.update_params(loss)
    hook.after_train_iter(runner, 0, outputs={'decode.loss_ce': loss.detach(),
                                              'decode.acc_seg': 50.0})


def test_finite_steps_pass_and_change_the_weights():
    runner, hook = _runner(), NonFiniteGuardHook()
    hook.before_train(runner)
    before = runner.model.weight.detach().clone()
    _step(runner, hook, 1.0)
    assert not torch.equal(before, runner.model.weight)


@pytest.mark.parametrize('scale', [math.inf, math.nan])
def test_non_finite_step_stops_naming_iteration_and_terms(scale):
    runner, hook = _runner(iteration=6), NonFiniteGuardHook()
    hook.before_train(runner)
    _step(runner, hook, 1.0)
    state = {k: v.clone() for k, v in runner.model.state_dict().items()}
    momentum = [runner.optim_wrapper.optimizer.state[p]['momentum_buffer']
                .clone() for p in runner.model.parameters()]
    with pytest.raises(NonFiniteLossError) as error:
        _step(runner, hook, scale)
    message = str(error.value)
    assert 'iteration 7: non-finite training step' in message
    assert f'decode.loss_ce={scale}' in message
    assert 'acc_seg' not in message  # only loss terms are listed
    assert 'gradient norm: not finite' in message
    assert 'max_skips' in message
    # The bad step changed neither the weights nor the momentum.
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, state[key]), key
    for p, buffer in zip(runner.model.parameters(), momentum):
        assert torch.equal(
            runner.optim_wrapper.optimizer.state[p]['momentum_buffer'], buffer)


def test_max_skips_skips_that_many_then_stops():
    runner, hook = _runner(), NonFiniteGuardHook(max_skips=2)
    hook.before_train(runner)
    before = runner.model.weight.detach().clone()
    _step(runner, hook, math.nan)
    _step(runner, hook, math.inf)
    assert hook.skipped == 2
    assert torch.equal(before, runner.model.weight)
    _step(runner, hook, 1.0)  # a good step still trains
    assert not torch.equal(before, runner.model.weight)
    with pytest.raises(NonFiniteLossError, match='non-finite'):
        _step(runner, hook, math.nan)


def test_after_train_removes_the_optimizer_hook():
    runner, hook = _runner(), NonFiniteGuardHook()
    hook.before_train(runner)
    hook.after_train(runner)
    before = runner.model.weight.detach().clone()
    runner.optim_wrapper.update_params(
        runner.model(torch.ones(1, 3)).sum() * math.nan)
    assert torch.isnan(runner.model.weight).all()
    assert not torch.equal(before, runner.model.weight)


def test_refuses_to_checkpoint_non_finite_weights():
    runner, hook = _runner(iteration=9), NonFiniteGuardHook()
    weights = {'a.weight': torch.ones(2),
               'b.bias': torch.tensor([1., math.inf]),
               'num_batches_tracked': torch.tensor(3)}
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 10: refusing .*1 tensors, e\.g\. '
                       r'b\.bias'):
        hook.before_save_checkpoint(runner, {'state_dict': weights})
    hook.before_save_checkpoint(runner, {'state_dict': {'a': torch.ones(2)}})


@pytest.mark.parametrize('value', [-1, 1.5, None])
def test_bad_max_skips_is_refused(value):
    with pytest.raises(ValueError, match='max_skips must be an integer'):
        NonFiniteGuardHook(max_skips=value)
