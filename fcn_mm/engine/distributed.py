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

A rank that stops answering (stopped, swapping, hung in I/O) used to hang
the others for torch's 30 minutes and then end them with gloo's "Timed out
waiting 1800000ms for recv operation to complete", which names no rank.
Every collective now waits ``env_cfg.dist_cfg.timeout`` seconds
(:data:`DEFAULT_TIMEOUT`); when a training step's collective times out on
CPU, the live ranks meet at ``torch.distributed.monitored_barrier`` on a
group of their own (the timed-out group is closed by then) and the step
raises :class:`StalledRankError` naming the rank, host and PID that did not
answer.
"""
import ctypes
import datetime
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from typing import List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
from torch import nn

from ..errors import FcnMmError
from .sync_bn import CPUSyncBatchNorm

__all__ = [
    'CPUDistributedDataParallel', 'DEFAULT_TIMEOUT', 'StalledRankError',
    'setup_distributed', 'init_cpu_process_group', 'end_with_launcher'
]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Seconds a collective waits for the other ranks before failing: torch's own
# default for gloo, stated here so that the README and the error can say it.
# Long enough for rank 0 to write a large checkpoint while the others wait.
DEFAULT_TIMEOUT = 1800.
# Seconds the ranks that are still alive wait for each other after a timeout;
# they time out within moments of each other, having waited in the same
# collective.
_ROLL_CALL_TIMEOUT = 60.
# What gloo says when a peer did not answer in time. A peer that died
# instead closes its connections, and torchrun names it with its exit code.
_PEER_TIMEOUT = re.compile(r'timed out', re.IGNORECASE)


class StalledRankError(FcnMmError, RuntimeError):
    """A collective timed out because another rank did not answer."""


# Set by init_cpu_process_group: the group for naming stalled ranks, and
# 'host, PID n' of every rank.
_roll_call_group = None
_peers: List[str] = []
_timeout = DEFAULT_TIMEOUT


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

    def train_step(self, data, optim_wrapper):
        """``MMDistributedDataParallel.train_step``, naming the rank that did
        not answer when a collective times out (:class:`StalledRankError`)."""
        try:
            return super().train_step(data, optim_wrapper)
        except RuntimeError as error:
            if _roll_call_group is None or not _PEER_TIMEOUT.search(
                    str(error)):
                raise
            message = _name_stalled_ranks(error)
            print_log(message, logger='current', level=logging.ERROR)
            raise StalledRankError(message) from error


def _name_stalled_ranks(error: RuntimeError) -> str:
    """One line saying which rank did not answer after ``error``, a failed
    collective. Every live rank calls it: they meet at a monitored barrier
    on a group of their own, where rank 0 learns who is missing."""
    waited = f'{_timeout:g} s (env_cfg.dist_cfg.timeout)'
    try:
        dist.monitored_barrier(
            group=_roll_call_group,
            timeout=datetime.timedelta(
                seconds=min(_ROLL_CALL_TIMEOUT, _timeout)),
            wait_all_ranks=True)
    except RuntimeError as roll_call:
        # torch: "[Rank 0]: Ranks 1, 3 failed to pass monitoredBarrier ..."
        failed = re.search(r'Ranks? ([\d, ]+) failed to pass monitoredBarrier',
                           str(roll_call))
        if failed:
            ranks = [int(rank) for rank in failed.group(1).split(',')]
            names = ', '.join(f'rank {rank} ({_peer(rank)})' for rank in ranks)
            return (f'{names} did not answer within {waited}: that process '
                    'is stopped, swapping or hung. Check it, then stop this '
                    'run and start it again with --resume.')
        return (f'a collective got no answer within {waited}, and rank 0 '
                f'({_peer(0)}) did not answer either: either rank 0 is '
                'stalled, or its log names the rank that is. Check it, then '
                'stop this run and start it again with --resume.')
    return (f'a collective got no answer within {waited}, yet every rank '
            'answered afterwards: one rank was slower than that (a long '
            'checkpoint write, a busy machine); allow more with '
            f'env_cfg.dist_cfg.timeout. ({str(error).splitlines()[0]})')


def _peer(rank: int) -> str:
    """'host <name>, PID <n>' of ``rank``, as it said at the start."""
    return _peers[rank] if rank < len(_peers) else 'host unknown'


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
                           timeout: float = DEFAULT_TIMEOUT) -> None:
    """Start the gloo process group for the processes ``launcher`` started,
    and a second group in which the ranks that are still alive name the
    ones that are not after a collective timed out.

    Args:
        launcher (str): 'pytorch' (torchrun), 'slurm' or 'mpi'.
        timeout (float): Seconds a collective may wait for the others.
            Defaults to :data:`DEFAULT_TIMEOUT` (30 minutes).
    """
    global _roll_call_group, _peers, _timeout
    _export_rank_env(launcher)
    wait = datetime.timedelta(seconds=timeout)
    dist.init_process_group(
        backend='gloo',
        init_method='env://',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        timeout=wait)
    _timeout = float(timeout)
    _roll_call_group = dist.new_group(backend='gloo', timeout=wait)
    _peers = [None] * dist.get_world_size()
    dist.all_gather_object(_peers,
                           f'host {socket.gethostname()}, PID {os.getpid()}')


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
    or with CUDA, it does nothing else: mmengine starts nccl itself.
    Otherwise it starts the gloo process group (unless one exists), records
    the backend and the collective timeout (:data:`DEFAULT_TIMEOUT` unless
    the config sets one) in ``env_cfg.dist_cfg`` and, when the config names
    no other wrapper, wraps the model in :class:`CPUDistributedDataParallel`
    with mmengine's default options.

    Args:
        cfg (Config): The run's config, changed in place.

    Raises:
        ValueError: ``env_cfg.dist_cfg.timeout`` is not a number of seconds
            above 0.
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
    timeout = dist_cfg.setdefault('timeout', DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(
            timeout, (int, float)) or not timeout > 0:
        raise ValueError(
            f'env_cfg.dist_cfg.timeout must be a number of seconds > 0, got '
            f'{timeout!r}; e.g. --cfg-options env_cfg.dist_cfg.timeout=600')
    if not dist.is_initialized():
        init_cpu_process_group(launcher, timeout=timeout)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'CPUDistributedDataParallel'):
        wrapper['type'] = 'CPUDistributedDataParallel'
        # mmengine only sets device_ids=[LOCAL_RANK] when the config has none.
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
