"""The README's first command, end to end: tools/demo.sh."""
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_trains_fcn8s_to_60_miou_and_writes_a_prediction(
        printed_summary):
    result = subprocess.run(['bash', str(REPO / 'tools' / 'demo.sh')],
                            cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=1500)
    out = result.stdout
    assert result.returncode == 0, out[-5000:]
    miou = printed_summary(out)['mIoU']
    assert miou >= 60, f'demo mIoU {miou} < 60'
    assert re.search(r'\|\s+background\s+\|', out), 'per-class table missing'
    image = re.search(r'colourised prediction for (\S+\.jpg)', out).group(1)
    # predict.py's last line: '1 images -> <out dir>'
    predictions = REPO / re.search(r'\d+ images -> (\S+)', out).group(1)
    stem = Path(image).stem
    assert Image.open(predictions / f'{stem}_overlay.png').format == 'PNG'
    pred = Image.open(predictions / f'{stem}_pred.png')
    assert pred.mode == 'P'
    assert pred.size == Image.open(REPO / image).size
    assert set(np.unique(np.array(pred))) <= set(range(21))
