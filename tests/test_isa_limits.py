"""The numeric tests hold on other CPUs: each reruns here under oneDNN's ISA
limits, as on a CPU without AVX-512 (AVX2) or without its bf16 and AMX
extensions (AVX512_CORE); the machine's default ISA, AMX included where the
CPU has it, is the normal run's. Their bounds are derived from a float64 run
(fcn_mm.numerics), so they must pass under each, and the export check must
still refuse a graph with one weight off by 1% (marked numeric too)."""
import os
import subprocess
import sys

import pytest
from tool_runs import REPO

ISAS = ('AVX2', 'AVX512_CORE')
# What oneDNN's verbose mode names as the ISA it dispatches to, per limit.
ISA_NAMES = {'AVX2': 'Intel AVX2', 'AVX512_CORE': 'Intel AVX-512 with '
             'AVX512BW, AVX512VL, and AVX512DQ extensions'}
# Large enough for PyTorch to hand it to oneDNN.
CONV = ('import torch; torch.nn.functional.conv2d(torch.rand(2, 16, 32, '
        '32), torch.rand(16, 16, 3, 3), padding=1)')


def _env(isa: str) -> dict:
    return dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)


@pytest.mark.parametrize('isa', ISAS)
def test_the_limit_reaches_onednn(isa):
    """Guards the test below: a misspelt variable would be ignored."""
    result = subprocess.run(
        [sys.executable, '-c', CONV], env=dict(_env(isa), ONEDNN_VERBOSE='1'),
        capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert any(line.endswith(f',cpu,isa:{ISA_NAMES[isa]}')
               for line in lines), lines[:5]
    [conv] = [line for line in lines if ',convolution,' in line]
    assert f':{isa.lower()},' in conv, conv  # e.g. jit:avx2


@pytest.mark.slow  # about 2 min an ISA on 2 cores
@pytest.mark.parametrize('isa', ISAS)
def test_numeric_tests_pass_under_isa_limit(isa):
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-m', 'numeric and not slow', '-q',
         '-p', 'no:cacheprovider'],
        cwd=REPO, env=_env(isa), capture_output=True, text=True)
    tail = '\n'.join((result.stdout + result.stderr).splitlines()[-40:])
    assert result.returncode == 0, f'ONEDNN_MAX_CPU_ISA={isa}:\n{tail}'
    assert ' passed' in tail, tail
