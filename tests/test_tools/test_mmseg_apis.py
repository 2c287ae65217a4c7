"""mmseg's own Python API on a checkpoint written by tools/train.py, in a
fresh process that imports only ``mmseg.apis``: the config's custom_imports
load fcn_mm, which lets torch's weights-only loader read mmengine's
checkpoints and keeps refusing anything else."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = '''
import sys, pathlib
import torch
from mmseg.apis import (MMSegInferencer, inference_model, init_model,
                        show_result_pyplot)
config, checkpoint, image, out = sys.argv[1:5]
assert not [m for m in sys.modules if m.startswith('fcn_mm')]
# torch >= 2.6 loads weights-only unless told otherwise; nobody told it.
assert tuple(map(int, torch.__version__.split('.')[:2])) >= (2, 6)
assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in __import__('os').environ
model = init_model(config, checkpoint, device='cpu')
print('fcn_mm loaded by the config:', 'fcn_mm' in sys.modules)
print('classes:', len(model.dataset_meta['classes']))
result = inference_model(model, image)
print('pred shape:', tuple(result.pred_sem_seg.data.shape))
show_result_pyplot(model, image, result, show=False, out_file=out + '/a.png')
inferencer = MMSegInferencer(model=config, weights=checkpoint, device='cpu')
outputs = inferencer(image, return_datasamples=True)
print('inferencer equal:', torch.equal(outputs.pred_sem_seg.data,
                                       result.pred_sem_seg.data))
'''

EVIL = '''
import sys, torch

class Evil:
    """Unpickling it would create a file: what a malicious checkpoint does."""
    def __reduce__(self):
        return (open, (sys.argv[2], 'w'))

torch.save({'state_dict': {}, 'meta': {'x': Evil()}}, sys.argv[1])
'''

REFUSE = '''
import sys
from mmseg.apis import {api}
config, checkpoint = sys.argv[1:3]
try:
    {call}
except Exception as error:
    print(type(error).__name__, error)
'''


def _python(code, *args, cwd):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code),
                           *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_mmseg_apis_load_a_trained_checkpoint(tmp_path, trained_work_dir,
                                              demo_config, demo_voc_root):
    image = sorted(Path(demo_voc_root).glob('JPEGImages/*'))[0]
    run = _python(PROBE, demo_config, trained_work_dir / 'iter_2.pth', image,
                  tmp_path, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert 'fcn_mm loaded by the config: True' in lines
    assert 'classes: 21' in lines
    from PIL import Image
    height, width = Image.open(image).size[::-1]
    assert f'pred shape: (1, {height}, {width})' in lines
    assert 'inferencer equal: True' in lines
    assert Image.open(tmp_path / 'a.png').size == (width, height)


@pytest.mark.parametrize('api,call', [
    ('init_model', "init_model(config, checkpoint, device='cpu')"),
    ('MMSegInferencer', 'MMSegInferencer(model=config, weights=checkpoint, '
     "device='cpu')"),
])
def test_mmseg_apis_refuse_a_malicious_checkpoint(tmp_path, demo_config, api,
                                                   call):
    checkpoint, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    assert _python(EVIL, checkpoint, marker, cwd=tmp_path).returncode == 0
    run = _python(REFUSE.format(api=api, call=call), demo_config, checkpoint,
                  cwd=tmp_path)
    assert (f'UntrustedCheckpointError Refused to load checkpoint '
            f'{checkpoint}: it holds the object {open.__module__}.open') \
        in run.stdout
    assert not marker.exists()
