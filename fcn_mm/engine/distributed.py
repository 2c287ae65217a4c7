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

On CPU and CUDA alike, a worker that torchrun started ends with it
(:func:`end_with_launcher`): torchrun starts each worker in a session of its
own, so when the agent is killed outright nothing else stops them.
"""
import ctypes
import datetime
import logging
import os
import signal
import subprocess
import sys
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn

from .sync_bn import CPUSyncBatchNorm

__all__ = [
    'CPUDistributedDataParallel', 'setup_distributed', 'init_cpu_process_group',
    'end_with_launcher'
]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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


def end_with_launcher(sig: int = signal.SIGTERM) -> None:
    """Have Linux send this torchrun worker ``sig`` when its agent dies.

    torchrun stops its workers with SIGTERM when it shuts down; killed with
    SIGKILL it cannot, and its workers, each in a session of its own, would
    train on as orphans. ``prctl(PR_SET_PDEATHSIG)`` makes the kernel signal
    the worker when its parent (the agent) exits, however it exits. An agent
    that died before this call cannot signal any more: when the launch
    scripts name it (``FCN_MM_LAUNCHER_PID``, tools/dist_run.sh) and the
    parent is no longer that process, this raises instead.

    Does nothing outside Linux or outside a process torchrun started.

    Args:
        sig (int): The signal to receive. Defaults to SIGTERM, as torchrun
            sends.

    Raises:
        RuntimeError: The agent named by ``FCN_MM_LAUNCHER_PID`` has already
            exited.
    """
    if not sys.platform.startswith('linux') or \
            'TORCHELASTIC_RUN_ID' not in os.environ:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        print_log(
            f'prctl(PR_SET_PDEATHSIG) failed ({os.strerror(error)}): this '
            'worker will not stop by itself if torchrun is killed',
            logger='current', level=logging.WARNING)
        return
    launcher = os.environ.get('FCN_MM_LAUNCHER_PID', '')
    if launcher.isdigit() and os.getppid() != int(launcher):
        raise RuntimeError(
            f'torchrun (PID {launcher}) that started this worker has exited; '
            'stopping instead of training without it. Start the run again.')


def setup_distributed(cfg: Config) -> None:
    """Prepare a distributed run of ``cfg`` on a machine without CUDA.

    Under torchrun (``launcher='pytorch'``) it first makes the worker end
    with the agent (:func:`end_with_launcher`). With ``cfg.launcher`` 'none',
    or with CUDA, it does nothing else: mmengine starts nccl itself. Otherwise it starts the gloo process group (unless
    one exists), records the backend in ``env_cfg.dist_cfg`` and, when the
    config names no other wrapper, wraps the model in
    :class:`CPUDistributedDataParallel` with mmengine's default options.

    Args:
        cfg (Config): The run's config, changed in place.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'pytorch':
        end_with_launcher()
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
