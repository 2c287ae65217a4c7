"""What ``import fcn_mm`` does: register, allow mmengine checkpoints, and load
nothing else."""
import subprocess
import sys

# Modules a config's custom_imports must not pull in: command-line helpers,
# distributed set-up, converters and the demo-data generator.
NOT_ON_IMPORT = ('fcn_mm.apis', 'fcn_mm.converters', 'fcn_mm.engine.distributed',
                 'fcn_mm.engine.sync_bn', 'fcn_mm.engine.launch_check',
                 'fcn_mm.engine.runner', 'fcn_mm.engine.console',
                 'fcn_mm.datasets.synthetic',
                 'fcn_mm.datasets.voc_aug')

PROBE = '''
import sys
import fcn_mm
from mmengine.registry import MODEL_WRAPPERS
from mmseg.registry import MODELS, TRANSFORMS
print(sorted(m for m in sys.modules if m.startswith('fcn_mm')))
print([name for name in ('FCNVGG16', 'FCN8sHead', 'ReducedFCNHead',
                         'FastFCNJPU') if MODELS.get(name) is None])
print(TRANSFORMS.get('CheckSegLabels') is not None)
print(MODEL_WRAPPERS.get('CPUDistributedDataParallel') is None)
'''


def test_import_registers_and_loads_nothing_else():
    # A fresh interpreter: this test session has imported everything already.
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    loaded = eval(out[0])  # noqa: S307  (our own probe's repr of a list)
    assert 'fcn_mm.models' in loaded and 'fcn_mm.datasets.transforms' in loaded
    assert [m for m in loaded if m.startswith(NOT_ON_IMPORT)] == []
    assert out[1] == '[]', f'not registered: {out[1]}'
    assert out[2] == 'True'
    assert out[3] == 'True', 'CPU DDP was registered as a side effect'
