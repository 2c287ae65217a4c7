"""fcn_mm.engine.distributed and .sync_bn: CPUSyncBatchNorm and the gloo set-up."""
import datetime
import os

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from torch import nn

from fcn_mm.engine import distributed as distributed_module
from fcn_mm.engine.distributed import setup_distributed
from fcn_mm.engine.sync_bn import CPUSyncBatchNorm

from launch_helpers import run_workers


def test_convert_swaps_syncbn_and_keeps_its_state():
    model = nn.Sequential(nn.Conv2d(3, 4, 1),
                          nn.Sequential(nn.SyncBatchNorm(4, momentum=0.3)),
                          nn.BatchNorm2d(4))
    sync_bn = model[1][0]
    sync_bn.running_mean.fill_(2.)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    CPUSyncBatchNorm.convert(model)
    converted = model[1][0]
    assert type(converted) is CPUSyncBatchNorm
    assert type(model[2]) is nn.BatchNorm2d  # plain BN stays
    assert converted.weight is sync_bn.weight  # shared, not copied
    assert converted.running_mean is sync_bn.running_mean
    assert converted.momentum == 0.3 and not converted.training
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_without_a_process_group_it_is_batch_norm():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5)
    reference, ours = nn.BatchNorm2d(3), CPUSyncBatchNorm(3)
    torch.testing.assert_close(ours(x), reference(x))
    torch.testing.assert_close(ours.running_var, reference.running_var)


def _sync_bn_worker(rank: int, world_size: int, port: int) -> None:
    """Each of ``world_size`` processes normalises its slice of one batch;
    the results must be those of BatchNorm on the whole batch (float64, so
    that any difference is a wrong formula, not rounding)."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=60))
    torch.manual_seed(0)
    x = torch.randn(4 * world_size, 3, 5, 5, dtype=torch.float64) * 3 + 1
    weight = torch.randn_like(x)  # makes the loss depend on every output
    reference = nn.BatchNorm2d(3).double()
    nn.init.uniform_(reference.weight)
    nn.init.uniform_(reference.bias)
    ours = CPUSyncBatchNorm(3).double()
    ours.load_state_dict(reference.state_dict())

    x_all = x.clone().requires_grad_()
    expected = reference(x_all)
    (expected * weight).mean().backward()
    part = slice(4 * rank, 4 * rank + 4)
    x_mine = x[part].clone().requires_grad_()
    output = ours(x_mine)
    (output * weight[part]).mean().backward()
    # DDP averages parameter gradients over processes; each process's mean
    # loss weighs its inputs world_size times more than the whole-batch one.
    for param in (ours.weight, ours.bias):
        dist.all_reduce(param.grad)
        param.grad /= world_size
    torch.testing.assert_close(output, expected[part],
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(x_mine.grad / world_size, x_all.grad[part],
                               rtol=0, atol=1e-12)
    for name in ('weight', 'bias'):
        torch.testing.assert_close(getattr(ours, name).grad,
                                   getattr(reference, name).grad,
                                   rtol=0, atol=1e-12)
    for name in ('running_mean', 'running_var', 'num_batches_tracked'):
        torch.testing.assert_close(getattr(ours, name),
                                   getattr(reference, name),
                                   rtol=0, atol=1e-12)
    # What this class replaces: torch's SyncBatchNorm refuses CPU tensors.
    with pytest.raises(ValueError, match='expected input tensor to be on GPU'):
        nn.SyncBatchNorm(3).double()(x_mine)
    dist.destroy_process_group()


def test_two_processes_normalise_like_one_batch():
    run_workers(_sync_bn_worker, 2)


def _distributed_cfg(**entries) -> Config:
    return Config(dict(launcher='pytorch',
                       env_cfg=dict(dist_cfg=dict(backend='nccl')),
                       **entries))


def test_cpu_runs_get_gloo_and_a_cpu_model_wrapper(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    started = []
    monkeypatch.setattr(distributed_module, 'init_cpu_process_group',
                        lambda *args, **kwargs: started.append(
                            (args, kwargs)))
    cfg = _distributed_cfg(find_unused_parameters=True)
    cfg.env_cfg.dist_cfg.timeout = 600
    setup_distributed(cfg)
    assert started == [(('pytorch', ), dict(timeout=600))]
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='CPUDistributedDataParallel', device_ids=None,
        broadcast_buffers=False, find_unused_parameters=True)

    # A config's own DDP options stay; only the device goes.
    cfg = _distributed_cfg(model_wrapper_cfg=dict(
        type='MMDistributedDataParallel', detect_anomalous_params=True))
    setup_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='CPUDistributedDataParallel', device_ids=None,
        detect_anomalous_params=True)


@pytest.mark.parametrize('launcher, cuda', [('none', False),
                                            ('pytorch', True)])
def test_single_process_and_gpu_runs_are_left_to_mmengine(
        monkeypatch, launcher, cuda):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    cfg = _distributed_cfg()
    cfg.launcher = launcher
    setup_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg
    assert not dist.is_initialized()
