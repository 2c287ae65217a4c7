"""--amp on a CPU: CPUAmpOptimWrapper runs the forward in bf16 and updates
float32 weights; enable_amp picks it where there is no CUDA."""
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmseg.registry import OPTIM_WRAPPERS

import fcn_mm  # noqa: F401  (registers CPUAmpOptimWrapper)
from fcn_mm.apis import enable_amp

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')


def _cfg(wrapper_type='OptimWrapper'):
    return Config(dict(optim_wrapper=dict(
        type=wrapper_type, optimizer=dict(type='SGD', lr=0.1))))


def test_config_can_name_it_and_forward_runs_in_bf16():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='CPUAmpOptimWrapper',
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    before = model[0].weight.detach().clone()
    x = torch.randn(2, 3, 8, 8)
    with wrapper.optim_context(model):
        out = model(x)
        loss = out.float().pow(2).mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    assert model[0].weight.dtype == torch.float32
    assert model[0].weight.grad is None  # zeroed after the step
    assert not torch.equal(model[0].weight, before)
    assert model(x).dtype == torch.float32  # no autocast outside


def test_enable_amp_picks_the_wrapper_by_device():
    cfg = _cfg()
    enable_amp(cfg, cuda=False)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper  # bf16 needs none
    cfg = _cfg()
    enable_amp(cfg, cuda=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_enable_amp_keeps_an_amp_config_and_refuses_others():
    cfg = _cfg('CPUAmpOptimWrapper')
    enable_amp(cfg, cuda=False)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    with pytest.raises(ValueError, match='optim_wrapper.type='
                       'CPUAmpOptimWrapper in the config'):
        enable_amp(_cfg('ApexOptimWrapper'), cuda=False)
