"""The README's first command, end to end: tools/demo.sh."""
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# The demo is seeded and deterministic on one machine with one thread count.
# Another CPU or thread count sums floats in another order and 300 iterations
# end elsewhere: mIoU 91.25 on an AMD EPYC (AVX512-BF16, 2 threads), 91.43
# there with one thread, 91.14 with oneDNN capped at AVX2; 91.13 on an Intel
# Xeon with AMX (2 threads), 91.41 there with one thread (README, "Two
# commands"). The band is 91.25 +- 3, ten times that spread: any x86 CPU lands
# in it, a demo that stopped learning does not (predicting background
# everywhere scores mIoU 13.7 on the 6 classes of its val set).
MIOU_BAND = (88.25, 94.25)


@pytest.mark.slow
def test_demo_trains_fcn8s_into_its_band_and_writes_a_prediction(
        printed_summary):
    result = subprocess.run(['bash', str(REPO / 'tools' / 'demo.sh')],
                            cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=1500)
    out = result.stdout
    assert result.returncode == 0, out[-5000:]
    miou = printed_summary(out)['mIoU']
    assert MIOU_BAND[0] <= miou <= MIOU_BAND[1], \
        f'demo mIoU {miou} outside {MIOU_BAND}'
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
