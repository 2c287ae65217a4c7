"""What a distributed run validates, saves and says (issue 16, items 9-11).

- BN running statistics are averaged over the ranks after every training
  iteration (DistributedStateHook), so the val mIoU a 2-process run logs is
  the mIoU tools/test.py gives on the checkpoint it saved.
- Checkpoints record the world size; a resume on another one says what
  changes.
- A rank that stops answering is named, with host and PID, once the
  collective timeout (env_cfg.dist_cfg.timeout) has passed.
"""
import datetime
import json
import os
import signal
import socket
import time
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from torch import nn

from fcn_mm.engine import distributed as distributed_module
from fcn_mm.engine import load_from_local_weights_only
from fcn_mm.engine.distributed import DEFAULT_TIMEOUT, setup_distributed
from fcn_mm.engine.hooks import distributed_state_hook
from fcn_mm.engine.hooks.distributed_state_hook import (DistributedStateHook,
                                                        world_size_change)
from fcn_mm.engine.sync_bn import CPUSyncBatchNorm

from launch_helpers import (finish, free_port, launch_env, logged_scalars,
                            run_script, run_workers, start_script,
                            worker_pid)
from tool_runs import run_tool

# -- the hook on its own ----------------------------------------------------


def _norm_model() -> nn.Module:
    """Plain BN (trains), a frozen BN (eval mode) and a synchronised BN."""
    model = nn.Sequential(nn.BatchNorm2d(3), nn.BatchNorm2d(3),
                          CPUSyncBatchNorm(3))
    model[1].eval()
    return model


def _averaging_worker(rank: int, world_size: int, port: int) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=60))
    model = _norm_model()
    # Each rank's own statistics, as after a step on its own images.
    for module in model:
        module.running_mean.fill_(rank + 1.)
        module.running_var.fill_(10. * (rank + 1))
    # The hook finds the model inside the DDP wrapper, as in a run.
    runner = SimpleNamespace(model=SimpleNamespace(module=model))
    DistributedStateHook().after_train_iter(runner, batch_idx=0)
    plain, frozen, synced = model
    # 2 ranks: (1 + 2) / 2 and (10 + 20) / 2, exactly.
    assert torch.equal(plain.running_mean, torch.full((3, ), 1.5))
    assert torch.equal(plain.running_var, torch.full((3, ), 15.))
    # Not touched: a frozen BN does not update its statistics, and a
    # synchronised one computes them over all ranks already.
    for module in (frozen, synced):
        assert torch.equal(module.running_mean, torch.full((3, ), rank + 1.))
        assert torch.equal(module.running_var,
                           torch.full((3, ), 10. * (rank + 1)))
    assert int(plain.num_batches_tracked) == 0
    dist.destroy_process_group()


@pytest.mark.slow  # spawning 2 interpreters that import mmseg: ~25 s here
def test_hook_averages_plain_bn_statistics_over_two_ranks():
    run_workers(_averaging_worker, 2)


def test_hook_leaves_a_single_process_alone():
    model = _norm_model()
    model[0].running_mean.fill_(3.)
    DistributedStateHook().after_train_iter(SimpleNamespace(model=model), 0)
    assert torch.equal(model[0].running_mean, torch.full((3, ), 3.))


def test_checkpoints_record_the_world_size_and_batch():
    runner = SimpleNamespace(world_size=4,
                             train_dataloader=SimpleNamespace(batch_size=2))
    checkpoint = {'meta': {'iter': 10}}
    DistributedStateHook().before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta'] == dict(iter=10, world_size=4,
                                      batch_size_per_process=2)


def _resume(monkeypatch, meta: dict, *, world_size: int, iteration: int):
    """Load a checkpoint with ``meta`` into a run of ``world_size`` and
    start training; return the warnings logged."""
    warnings = []
    monkeypatch.setattr(distributed_state_hook, 'print_log',
                        lambda message, **kwargs: warnings.append(message))
    runner = SimpleNamespace(world_size=world_size, iter=iteration, epoch=0,
                             train_dataloader=dict(batch_size=2))
    hook = DistributedStateHook()
    hook.after_load_checkpoint(runner, {'meta': meta})
    hook.before_train(runner)
    return warnings


def test_resume_on_another_world_size_says_what_changes(monkeypatch):
    meta = dict(iter=10, world_size=4, batch_size_per_process=2)
    assert _resume(monkeypatch, meta, world_size=2, iteration=10) == [
        'Resuming a run of 4 processes on 2: the effective batch size '
        'changes from 8 (4 x 2) to 4 (2 x 2), while the learning rate and '
        'its schedule continue as saved in the checkpoint (auto_scale_lr '
        'does not rescale a resumed run). To keep the effective batch, '
        'resume on 4 processes or set train_dataloader.batch_size.'
    ]
    # Same world size, fine-tuning with load_from (iteration 0) and
    # checkpoints saved before the world size was recorded: nothing to say.
    assert _resume(monkeypatch, meta, world_size=4, iteration=10) == []
    assert _resume(monkeypatch, meta, world_size=2, iteration=0) == []
    assert _resume(monkeypatch, dict(iter=10), world_size=2,
                   iteration=10) == []


def test_world_size_change_without_a_recorded_batch_size():
    assert world_size_change(
        old_world_size=2, old_batch_size=None, new_world_size=1,
        new_batch_size=8).startswith(
            'Resuming a run of 2 processes on 1: the effective batch size '
            'changes from unknown to 8 (1 x 8)')
    assert world_size_change(old_world_size=2, old_batch_size=4,
                             new_world_size=2, new_batch_size=8) is None


# -- the collective timeout -------------------------------------------------


def _cpu_cfg(**dist_cfg) -> Config:
    return Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dist_cfg)))


def test_cpu_runs_wait_the_stated_default_timeout(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    started = []
    monkeypatch.setattr(distributed_module, 'init_cpu_process_group',
                        lambda *args, **kwargs: started.append(kwargs))
    cfg = _cpu_cfg()
    setup_distributed(cfg)
    assert started == [dict(timeout=DEFAULT_TIMEOUT)] == [dict(timeout=1800)]
    assert cfg.env_cfg.dist_cfg.timeout == 1800


@pytest.mark.parametrize('timeout', ['10', 0, -5, True])
def test_a_bad_timeout_is_refused_naming_the_key(monkeypatch, timeout):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(distributed_module, 'init_cpu_process_group',
                        lambda *args, **kwargs: pytest.fail('started'))
    with pytest.raises(ValueError) as error:
        setup_distributed(_cpu_cfg(timeout=timeout))
    assert str(error.value) == (
        f'env_cfg.dist_cfg.timeout must be a number of seconds > 0, got '
        f'{timeout!r}; e.g. --cfg-options env_cfg.dist_cfg.timeout=600')


def _stalling_worker(rank: int, world_size: int, port: int, stalled: int,
                     report: str) -> None:
    """``stalled`` stops itself (SIGSTOP) before a collective; the others
    write what they would raise into ``report``.<rank>."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE=str(world_size))
    distributed_module.init_cpu_process_group('pytorch', timeout=3)
    tensor = torch.ones(4)
    dist.all_reduce(tensor)
    if rank == stalled:
        os.kill(os.getpid(), signal.SIGSTOP)
    with pytest.raises(RuntimeError) as error:
        dist.all_reduce(tensor)
    message = distributed_module._name_stalled_ranks(error.value)
    with open(f'{report}.{rank}', 'w') as file:
        file.write(message)
    os._exit(0)  # the process group would wait for the stopped rank


@pytest.mark.slow  # 2 spawned interpreters and a 3 s timeout: ~25 s here
def test_a_stopped_rank_0_is_suspected_by_the_others(tmp_path):
    # A stopped rank 1 is named by rank 0: test_a_stopped_torchrun_worker_
    # is_named. Here rank 0 stops, and only it could have named anyone.
    report = str(tmp_path / 'report')
    context = mp.start_processes(_stalling_worker,
                                 args=(2, free_port(), 0, report),
                                 nprocs=2, join=False, start_method='spawn')
    stopped, live = context.processes
    try:
        live.join(timeout=120)
        assert live.exitcode == 0, 'the live rank did not report'
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    assert (tmp_path / 'report.1').read_text() == (
        f'a collective got no answer within 3 s (env_cfg.dist_cfg.timeout), '
        f'and rank 0 (host {socket.gethostname()}, PID {stopped.pid}) did '
        'not answer either: either rank 0 is stalled, or its log names the '
        'rank that is. Check it, then stop this run and start it again with '
        '--resume.')


# -- end to end: two torchrun processes --------------------------------------


@pytest.fixture(scope='module')
def validated_run(tmp_path_factory, demo_config, demo_options) -> dict:
    """The demo on 2 processes x batch 8 with plain BN, 40 iterations,
    validated and saved at iteration 40: the fewest iterations after which
    the demo predicts more than background (before, at 8 or 24 iterations,
    every pixel was background whatever the statistics). Without the hook
    this run logged val mIoU 51.48 and test.py gave 51.97."""
    work_dir = tmp_path_factory.mktemp('validated')
    run_script('dist_train.sh', demo_config, 2, '--work-dir', work_dir,
               '--cfg-options', *demo_options, 'train_cfg.max_iters=40',
               'train_dataloader.batch_size=8', 'train_cfg.val_begin=1',
               'train_cfg.val_interval=40',
               'default_hooks.checkpoint.interval=40',
               env=launch_env(PORT=free_port()), cwd=work_dir)
    return dict(work_dir=work_dir)


def _logged_val_metrics(work_dir) -> dict:
    """aAcc, mIoU and mAcc of the run's one validation, as printed (mmseg
    rounds them to 2 decimals; scalars.json holds them as float32)."""
    lines = [json.loads(line) for path in work_dir.glob('*/vis_data/'
                                                        'scalars.json')
             for line in path.read_text().splitlines()]
    val = [line for line in lines if 'mIoU' in line]
    assert len(val) == 1, val
    return {name: round(val[0][name], 2) for name in ('aAcc', 'mIoU', 'mAcc')}


@pytest.mark.slow
def test_logged_validation_is_the_score_of_the_saved_checkpoint(
        validated_run, demo_config, demo_options, printed_summary):
    work_dir = validated_run['work_dir']
    logged = _logged_val_metrics(work_dir)
    tested = run_tool('test', demo_config, work_dir / 'iter_40.pth',
                      '--work-dir', work_dir / 'test', '--cfg-options',
                      *demo_options, cwd=work_dir).stdout
    assert printed_summary(tested) == logged


@pytest.mark.slow
def test_resume_on_one_process_warns_about_the_batch(validated_run,
                                                     demo_config,
                                                     demo_options, tmp_path):
    checkpoint = validated_run['work_dir'] / 'iter_40.pth'
    meta = load_from_local_weights_only(str(checkpoint))['meta']
    assert (meta['world_size'], meta['batch_size_per_process']) == (2, 8)
    output = run_tool('train', demo_config, '--resume', checkpoint,
                      '--work-dir', tmp_path, '--cfg-options', *demo_options,
                      'train_dataloader.batch_size=8', 'train_cfg.max_iters=41',
                      cwd=tmp_path).stdout
    assert ('Resuming a run of 2 processes on 1: the effective batch size '
            'changes from 16 (2 x 8) to 8 (1 x 8)') in output
    assert sorted(logged_scalars(tmp_path)) == [41]


@pytest.mark.slow
def test_a_stopped_torchrun_worker_is_named(tmp_path, deterministic_config,
                                            demo_options):
    process = start_script(
        'dist_train.sh', deterministic_config, 2, '--work-dir', tmp_path,
        '--cfg-options', *demo_options, 'train_cfg.max_iters=100000',
        'env_cfg.dist_cfg.timeout=5',
        env=launch_env(PORT=free_port()), cwd=tmp_path)
    stopped = None
    try:
        deadline = time.monotonic() + 240
        while len(logged_scalars(tmp_path)) < 2:  # training, not starting
            assert process.poll() is None, 'training ended before the stop'
            assert time.monotonic() < deadline, 'no iteration in 240 s'
            time.sleep(0.1)
        stopped = worker_pid(process.pid, 1)
        os.kill(stopped, signal.SIGSTOP)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            # torchrun, told by rank 0's failure, waits 30 s for the
            # stopped worker to end; a real operator would kill it sooner.
            if 'did not answer' in _output_so_far(process):
                break
    finally:
        if stopped is not None:
            try:
                os.kill(stopped, signal.SIGKILL)
            except ProcessLookupError:
                pass
    output = finish(process, timeout=60, expect_success=False)
    assert process.returncode != 0
    named = (f'rank 1 (host {socket.gethostname()}, PID {stopped}) did not '
             'answer within 5 s (env_cfg.dist_cfg.timeout): that process is '
             'stopped, swapping or hung.')
    # Rank 0 logs it, and tools/train.py ends with it.
    assert f'- {named}' in output, output[-3000:]
    assert f'error: {named}' in output, output[-3000:]


def _output_so_far(process) -> str:
    """What a started script has written, read through a descriptor of its
    own (seeking the shared one would move where the script writes)."""
    with open(f'/proc/self/fd/{process.log.fileno()}',
              errors='replace') as log:
        return log.read()
