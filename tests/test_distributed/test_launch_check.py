"""fcn_mm.engine.launch_check: each launch mistake is one line, found fast."""
import socket
import subprocess
import sys
import time

import pytest

from fcn_mm.engine import launch_check
from fcn_mm.engine.launch_check import (launcher_problem, layout_problem,
                                        master_problem)

from launch_helpers import free_port


@pytest.mark.parametrize('nnodes, node_rank, gpus, expected', [
    ('2', '2', '1', 'NODE_RANK=2 is out of range for NNODES=2'),
    ('1', '1', '1', 'NODE_RANK=1 is out of range for NNODES=1'),
    ('two', '0', '1', "NNODES must be a positive integer, got 'two'"),
    ('0', '0', '1', "NNODES must be a positive integer, got '0'"),
    ('2', '-1', '1', "NODE_RANK must be an integer >= 0, got '-1'"),
    ('2', '0.5', '1', "NODE_RANK must be an integer >= 0, got '0.5'"),
    ('1', '0', 'all', "GPUS (processes per node) must be a positive"),
])
def test_inconsistent_layouts_are_named(nnodes, node_rank, gpus, expected):
    problem = layout_problem(nnodes=nnodes, node_rank=node_rank,
                             nproc_per_node=gpus)
    assert expected in problem
    assert '\n' not in problem


def test_consistent_layout_passes():
    assert layout_problem(nnodes='4', node_rank='3',
                          nproc_per_node='8') is None


def test_busy_port_on_the_master_is_named():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        port = listener.getsockname()[1]
        problem = master_problem(master_addr='127.0.0.1', port=str(port),
                                 node_rank=0)
    assert f'port {port} on 127.0.0.1 is already in use' in problem
    assert 'PORT=' in problem  # says what to do


def test_free_port_on_the_master_passes():
    assert master_problem(master_addr='127.0.0.1', port=str(free_port()),
                          node_rank=0) is None


def test_unreachable_master_fails_within_its_timeout():
    port = free_port()  # nothing listens: connections are refused
    start = time.monotonic()
    problem = master_problem(master_addr='127.0.0.1', port=str(port),
                             node_rank=1, timeout=1.)
    assert time.monotonic() - start < 5
    assert f'cannot reach the master at 127.0.0.1:{port} within 1 s' in problem
    assert 'start NODE_RANK=0 first' in problem


def test_reachable_master_passes():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        assert master_problem(master_addr='127.0.0.1',
                              port=str(listener.getsockname()[1]),
                              node_rank=1, timeout=5.) is None


@pytest.mark.parametrize('port', ['http', '0', '70000'])
def test_invalid_ports_are_named(port):
    problem = master_problem(master_addr='127.0.0.1', port=port, node_rank=0)
    assert problem.startswith('PORT must be')


def test_pytorch_launcher_without_torchrun_is_named():
    problem = launcher_problem('pytorch', environ={'RANK': '0'})
    assert ('expects WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT'
            in problem)
    assert 'tools/dist_train.sh' in problem


def test_rank_outside_the_world_is_named():
    environ = dict(RANK='2', WORLD_SIZE='2', LOCAL_RANK='0',
                   MASTER_ADDR='127.0.0.1', MASTER_PORT='29500')
    assert launcher_problem('pytorch', environ) == (
        'RANK=2 is out of range for WORLD_SIZE=2')
    assert launcher_problem('pytorch', dict(environ, RANK='1')) is None


def test_slurm_launcher_outside_slurm_is_named():
    assert 'SLURM_PROCID' in launcher_problem('slurm', environ={})
    assert launcher_problem('none', environ={}) is None


def test_the_check_runs_without_site_packages(tmp_path):
    # -S: no site-packages, so no torch; the shell scripts rely on that to
    # check in milliseconds.
    result = subprocess.run(
        [sys.executable, '-S', launch_check.__file__, '--nnodes', '2',
         '--node-rank', '2', '--nproc-per-node', '1', '--master-addr',
         '127.0.0.1', '--port', '29500'],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ('error: NODE_RANK=2 is out of range for '
                             'NNODES=2: give each machine a different '
                             'NODE_RANK from 0 to 1\n')
