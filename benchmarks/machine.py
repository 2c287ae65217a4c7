"""One line naming the machine a benchmark ran on, for the README's tables.

CPU times depend on the CPU model, its vector ISA (AVX2, AVX-512, AVX512-BF16,
AMX), any ``ONEDNN_MAX_CPU_ISA`` cap and the thread count, so every benchmark
prints this line above its table and the README quotes it beside the numbers.
"""
import os
import platform


def _cpu_info() -> tuple:
    """(model name, set of CPU flags) from /proc/cpuinfo; the platform's
    processor string and no flags where there is none."""
    model, flags = None, set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name' and model is None:
                    model = value.strip()
                elif key.strip() == 'flags':
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model or platform.processor() or 'unknown CPU', flags


def describe_machine(threads: int) -> str:
    """E.g. ``AMD EPYC, 2 cores, ISA avx512_bf16 (no AMX), 2 threads, torch
    2.13.0+cpu``."""
    import torch
    model, flags = _cpu_info()
    isa = ('amx_bf16' if 'amx_bf16' in flags else
           'avx512_bf16 (no AMX)' if 'avx512_bf16' in flags else
           'avx512 (no bf16)' if 'avx512f' in flags else
           'avx2' if 'avx2' in flags else 'below avx2')
    cap = os.environ.get('ONEDNN_MAX_CPU_ISA')
    return (f'{model}, {os.cpu_count()} cores, ISA {isa}'
            + (f', ONEDNN_MAX_CPU_ISA={cap}' if cap else '')
            + f', {threads} threads, torch {torch.__version__}')
