"""Pre-flight checks of a distributed launch, so that mistakes fail fast.

A wrong ``NODE_RANK``, a busy master port or an unreachable master make
torchrun wait for peers that never come: in torch 2.13, 900 s with the static
rendezvous the launch scripts use by default (``LaunchConfig`` fills in
``timeout=900``, torch/distributed/launcher/api.py) and 600 s with the c10d
rendezvous of elastic mode (``join_timeout``). These checks turn each of them
into one line that says what was expected, what was found and what to do.

Two places use them: ``tools/dist_run.sh`` (under ``dist_train.sh`` and
``dist_test.sh``) runs this file before torchrun
(``python fcn_mm/engine/launch_check.py --help``), and
``tools/train.py``/``tools/test.py`` call :func:`launcher_problem` for the
environment a launcher must set. Only the standard library is imported here,
so the shell scripts' check starts in milliseconds, not after torch loads.
"""
import argparse
import errno
import os
import socket
import sys
import time
from typing import Mapping, Optional

__all__ = ['layout_problem', 'master_problem', 'launcher_problem']

# The variables each launcher sets in every process it starts, which
# mmengine's init_dist (or fcn_mm's CPU version of it) reads.
_LAUNCHER_ENV = {
    'pytorch': ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                'MASTER_PORT'),
    'slurm': ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
    'mpi': ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE',
            'OMPI_COMM_WORLD_LOCAL_RANK', 'MASTER_ADDR'),
}
_HOW_TO_START = {
    'pytorch': 'start it with tools/dist_train.sh or tools/dist_test.sh '
    '(torchrun)',
    'slurm': 'start it with tools/slurm_train.sh or tools/slurm_test.sh '
    '(srun)',
    'mpi': 'start it with mpirun and export MASTER_ADDR',
}


def _int_problem(name: str, value: str, minimum: int) -> Optional[str]:
    """Why ``value`` is not an integer >= ``minimum``, or None."""
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        kind = 'a positive integer' if minimum > 0 else 'an integer >= 0'
        return f'{name} must be {kind}, got {value!r}'
    return None


def layout_problem(*, nnodes: str, node_rank: str,
                   nproc_per_node: str) -> Optional[str]:
    """Check the node layout a launch script was given.

    Args:
        nnodes (str): ``NNODES``, the number of machines.
        node_rank (str): ``NODE_RANK``, this machine's index.
        nproc_per_node (str): ``GPUS``, processes on this machine.

    Returns:
        str | None: One line saying what is wrong, or None when the layout is
        consistent.
    """
    problem = (_int_problem('NNODES', nnodes, 1)
               or _int_problem('NODE_RANK', node_rank, 0)
               or _int_problem('GPUS (processes per node)', nproc_per_node,
                               1))
    if problem:
        return problem
    if int(node_rank) >= int(nnodes):
        return (f'NODE_RANK={node_rank} is out of range for NNODES={nnodes}: '
                f'give each machine a different NODE_RANK from 0 to '
                f'{int(nnodes) - 1}')
    return None


def _port_in_use_problem(addr: str, port: int) -> Optional[str]:
    """Why the master cannot listen on ``addr:port``, or None."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Accept a port a finished run left in TIME_WAIT, as torch's store does.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((addr, port))
    except socket.gaierror as error:
        return (f'MASTER_ADDR={addr!r} does not resolve ({error.strerror}); '
                'set it to the address of the NODE_RANK=0 machine')
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return (f'port {port} on {addr} is already in use (another '
                    'training run?); choose a free one with PORT=<port> on '
                    'every node')
        if error.errno == errno.EADDRNOTAVAIL:
            return (f'MASTER_ADDR={addr} is not an address of this machine, '
                    'but NODE_RANK=0 hosts the master; set MASTER_ADDR to '
                    "this machine's address on every node")
        return f'cannot listen on {addr}:{port} ({error.strerror})'
    finally:
        probe.close()
    return None


def _unreachable_problem(addr: str, port: int,
                         timeout: float) -> Optional[str]:
    """Why ``addr:port`` accepted no connection within ``timeout`` seconds
    (retrying, since the master may still be starting), or None."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection((addr, port),
                                          timeout=max(remaining, 0.1)):
                return None
        except socket.gaierror as error:
            return (f'MASTER_ADDR={addr!r} does not resolve '
                    f'({error.strerror}); set it to the address of the '
                    'NODE_RANK=0 machine')
        except OSError as error:
            reason = error.strerror or 'timed out'
        if time.monotonic() + 0.2 >= deadline:
            return (f'cannot reach the master at {addr}:{port} within '
                    f'{timeout:g} s ({reason}); start NODE_RANK=0 first, and '
                    'check MASTER_ADDR, PORT and the firewall (wait longer '
                    'with MASTER_TIMEOUT=<seconds>)')
        time.sleep(0.2)


def master_problem(*, master_addr: str, port: str, node_rank: int,
                   timeout: float = 60.) -> Optional[str]:
    """Check that the master can be hosted (node 0) or reached (others).

    Args:
        master_addr (str): ``MASTER_ADDR``, host name or IP of node 0.
        port (str): ``PORT``, where node 0 hosts torch's rendezvous store.
        node_rank (int): This machine's index; 0 hosts the master.
        timeout (float): Seconds another node waits for the master to accept
            a connection. Defaults to 60.

    Returns:
        str | None: One line saying what is wrong, or None.
    """
    problem = _int_problem('PORT', port, 1)
    if problem is None and int(port) > 65535:
        problem = f'PORT must be at most 65535, got {port!r}'
    if problem:
        return problem
    if node_rank == 0:
        return _port_in_use_problem(master_addr, int(port))
    return _unreachable_problem(master_addr, int(port), timeout)


def launcher_problem(
        launcher: str,
        environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Check that this process was started by the launcher it names.

    Args:
        launcher (str): ``--launcher``: 'none', 'pytorch', 'slurm' or 'mpi'.
        environ (Mapping[str, str], optional): The environment. Defaults to
            ``os.environ``.

    Returns:
        str | None: One line saying what is missing, or None.
    """
    if launcher == 'none':
        return None
    environ = os.environ if environ is None else environ
    missing = [name for name in _LAUNCHER_ENV[launcher] if name not in environ]
    if missing:
        return (f'--launcher {launcher} expects {", ".join(missing)} in the '
                f'environment, which the launcher sets; '
                f'{_HOW_TO_START[launcher]}, or drop --launcher to run one '
                'process')
    if launcher == 'pytorch':
        rank, world = environ['RANK'], environ['WORLD_SIZE']
        problem = (_int_problem('RANK', rank, 0)
                   or _int_problem('WORLD_SIZE', world, 1))
        if problem is None and int(rank) >= int(world):
            problem = f'RANK={rank} is out of range for WORLD_SIZE={world}'
        return problem
    return None


def main(argv=None) -> None:
    """Check a launch from the command line; exit 1 with one line on error."""
    parser = argparse.ArgumentParser(
        description='Check the node layout and the master before torchrun.')
    parser.add_argument('--nnodes', required=True)
    parser.add_argument('--node-rank', required=True)
    parser.add_argument('--nproc-per-node', required=True)
    parser.add_argument('--master-addr', required=True)
    parser.add_argument('--port', required=True)
    parser.add_argument(
        '--timeout',
        type=float,
        default=60.,
        help='seconds a node other than 0 waits for the master')
    args = parser.parse_args(argv)
    problem = layout_problem(
        nnodes=args.nnodes,
        node_rank=args.node_rank,
        nproc_per_node=args.nproc_per_node) or master_problem(
            master_addr=args.master_addr,
            port=args.port,
            node_rank=int(args.node_rank),
            timeout=args.timeout)
    if problem:
        sys.exit(f'error: {problem}')


if __name__ == '__main__':
    main()
