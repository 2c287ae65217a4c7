"""tools/dist_*.sh and tools/slurm_*.sh: the commands they build, and their
pre-flight errors (one line, non-zero exit, in seconds)."""
import socket
import subprocess
import time

import pytest

from launch_helpers import REPO, free_port, launch_env, run_script

SCRIPTS = ('dist_train.sh', 'dist_test.sh', 'dist_run.sh', 'slurm_train.sh',
           'slurm_test.sh', 'slurm_run.sh', 'python_env.sh')


@pytest.mark.parametrize('script', SCRIPTS)
def test_scripts_are_valid_bash(script):
    result = subprocess.run(['bash', '-n', str(REPO / 'tools' / script)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def echo_bin(tmp_path):
    """A folder with ``srun`` and ``python`` that print their arguments, one
    per line, after a line with their own name."""
    folder = tmp_path / 'bin'
    folder.mkdir()
    for name in ('srun', 'python'):
        path = folder / name
        path.write_text(f'#!/usr/bin/env bash\necho "<{name}>"\n'
                        'printf "%s\\n" "$@"\n')
        path.chmod(0o755)
    return folder


def _calls(output: str) -> dict:
    """{'srun': [args], 'python': [[args], ...]} from the echoed lines."""
    calls = {}
    for block in output.split('<')[1:]:
        name, _, args = block.partition('>\n')
        calls.setdefault(name, []).append(args.splitlines())
    return calls


def test_dist_train_runs_torchrun_with_the_node_layout(tmp_path, echo_bin):
    env = launch_env(PYTHON=echo_bin / 'python', NNODES=2, NODE_RANK=1,
                     PORT=29999, MASTER_ADDR='127.0.0.2')
    output = run_script('dist_train.sh', 'a.py', 4, '--amp', env=env,
                        cwd=tmp_path).stdout
    check, torchrun = _calls(output)['python']
    assert check[0] == str(REPO / 'fcn_mm/engine/launch_check.py')
    assert torchrun == [
        '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc-per-node',
        '4', '--node-rank', '1', '--master-addr', '127.0.0.2',
        '--master-port', '29999',
        str(REPO / 'tools/train.py'), 'a.py', '--launcher', 'pytorch', '--amp'
    ]


def test_elastic_mode_uses_c10d_restarts_and_resume(tmp_path, echo_bin):
    env = launch_env(PYTHON=echo_bin / 'python', MAX_RESTARTS=3, PORT=29998)
    output = run_script('dist_train.sh', 'a.py', 2, env=env,
                        cwd=tmp_path).stdout
    torchrun = _calls(output)['python'][1]
    assert torchrun == [
        '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc-per-node',
        '2', '--max-restarts', '3', '--rdzv-backend', 'c10d',
        '--rdzv-endpoint', '127.0.0.1:29998', '--rdzv-id', 'fcn_mm',
        str(REPO / 'tools/train.py'), 'a.py', '--launcher', 'pytorch',
        '--resume'
    ]


def test_dist_test_runs_test_py(tmp_path, echo_bin):
    env = launch_env(PYTHON=echo_bin / 'python', PORT=29997)
    output = run_script('dist_test.sh', 'a.py', 'c.pth', 2, '--tta',
                        env=env, cwd=tmp_path).stdout
    torchrun = _calls(output)['python'][1]
    assert torchrun[-6:] == [
        str(REPO / 'tools/test.py'), 'a.py', 'c.pth', '--launcher', 'pytorch',
        '--tta'
    ]
    assert torchrun[:6] == ['-m', 'torch.distributed.run', '--nnodes', '1',
                            '--nproc-per-node', '2']


def test_slurm_train_builds_the_srun_command(tmp_path, echo_bin):
    env = launch_env(PATH=f'{echo_bin}:/usr/bin:/bin', PYTHON='py', GPUS=16,
                     GPUS_PER_NODE=8, CPUS_PER_TASK=4,
                     SRUN_ARGS='--quotatype=spot -x node7')
    output = run_script('slurm_train.sh', 'gpu', 'fcn', 'a.py', 'work',
                        '--resume', env=env, cwd=tmp_path).stdout
    [srun] = _calls(output)['srun']
    assert srun == [
        '-p', 'gpu', '--job-name=fcn', '--ntasks=16', '--gres=gpu:8',
        '--ntasks-per-node=8', '--cpus-per-task=4', '--kill-on-bad-exit=1',
        '--quotatype=spot', '-x', 'node7', 'py', '-u',
        str(REPO / 'tools/train.py'), 'a.py', '--work-dir=work',
        '--launcher=slurm', '--resume'
    ]


def test_slurm_test_on_cpu_nodes_asks_for_no_gpus(tmp_path, echo_bin):
    env = launch_env(PATH=f'{echo_bin}:/usr/bin:/bin', PYTHON='py',
                     GPUS_PER_NODE=0)
    output = run_script('slurm_test.sh', 'cpu', 'fcn', 'a.py', 'c.pth',
                        env=env, cwd=tmp_path).stdout
    [srun] = _calls(output)['srun']
    assert not any(arg.startswith(('--gres', '--ntasks-per-node'))
                   for arg in srun)
    assert srun[-5:] == [
        '-u', str(REPO / 'tools/test.py'), 'a.py', 'c.pth', '--launcher=slurm'
    ]


@pytest.mark.parametrize('script, args', [
    ('dist_train.sh', ['a.py']),
    ('dist_test.sh', ['a.py', 'c.pth']),
    ('slurm_train.sh', ['gpu', 'fcn', 'a.py']),
    ('slurm_test.sh', ['gpu', 'fcn', 'a.py']),
])
def test_missing_arguments_print_the_usage(tmp_path, script, args):
    result = run_script(script, *args, env=launch_env(), cwd=tmp_path,
                        timeout=60, expect_success=False)
    assert result.returncode == 2
    assert result.stdout.startswith('usage: ')


def _fails_in_one_line(script, *args, env, cwd) -> str:
    """Run a launch that must fail before torchrun: its only output line."""
    start = time.monotonic()
    result = run_script(script, *args, env=env, cwd=cwd, timeout=60,
                        expect_success=False)
    assert time.monotonic() - start < 20
    assert result.returncode != 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith('error: ')
    return lines[0]


def test_busy_master_port_fails_fast(tmp_path):
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        port = listener.getsockname()[1]
        line = _fails_in_one_line('dist_train.sh', 'a.py', 2,
                                  env=launch_env(PORT=port), cwd=tmp_path)
    assert f'port {port} on 127.0.0.1 is already in use' in line


def test_unreachable_master_fails_fast(tmp_path):
    env = launch_env(NNODES=2, NODE_RANK=1, PORT=free_port(),
                     MASTER_TIMEOUT=2)
    line = _fails_in_one_line('dist_train.sh', 'a.py', 1, env=env,
                              cwd=tmp_path)
    assert 'cannot reach the master at 127.0.0.1:' in line


@pytest.mark.parametrize('variables, expected', [
    (dict(NNODES=2, NODE_RANK=2), 'NODE_RANK=2 is out of range for NNODES=2'),
    (dict(NNODES='x'), "NNODES must be a positive integer, got 'x'"),
    (dict(MAX_RESTARTS='-1'), 'MAX_RESTARTS must be an integer >= 0'),
])
def test_inconsistent_layout_fails_fast(tmp_path, variables, expected):
    line = _fails_in_one_line('dist_train.sh', 'a.py', 1,
                              env=launch_env(PORT=free_port(), **variables),
                              cwd=tmp_path)
    assert expected in line


def test_dist_test_checks_the_layout_too(tmp_path):
    line = _fails_in_one_line('dist_test.sh', 'a.py', 'c.pth', 1,
                              env=launch_env(NNODES=1, NODE_RANK=1),
                              cwd=tmp_path)
    assert 'NODE_RANK=1 is out of range for NNODES=1' in line
