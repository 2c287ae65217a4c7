"""Complexity, speed and training curves of fcn_mm models and runs."""
import json

import pytest
from tool_runs import DEMO_CONFIG

from fcn_mm.apis.analysis import complexity, measure_speed, plot_curves
from fcn_mm.apis.inference import load_model

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def demo_model():
    return load_model(str(DEMO_CONFIG))


def test_params_are_counted_and_flops_grow_with_the_area(demo_model):
    small = complexity(demo_model, (64, 64))
    large = complexity(demo_model, (128, 128))
    assert small['params'] == sum(p.numel() for p in demo_model.parameters())
    # Fully convolutional: 4x the pixels, about 4x the multiply-adds (the
    # 7x7 fc6 and the crops make it not exact).
    assert 3.5 < large['flops'] / small['flops'] < 4.5
    assert 'backbone' in small['table']


def test_speed_reports_each_quantity(demo_model):
    speed = measure_speed(demo_model, (64, 64), batch_size=2, warmup=1,
                          iters=3)
    assert speed['device'] == 'cpu'
    assert speed['latency_ms_p90'] >= speed['latency_ms'] > 0
    assert speed['images_per_s'] == pytest.approx(
        2e3 / speed['latency_ms'])
    assert speed['peak_memory_mib'] > 0


def test_curves_are_the_logged_scalars(tmp_path):
    run = tmp_path / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    records = [dict(iter=i, lr=0.01, loss=1.0 / i) for i in range(1, 5)]
    records.insert(2, dict(step=2, mIoU=12.5, aAcc=50.0))
    run.joinpath('scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in records) + '\n')
    series = plot_curves(str(tmp_path), str(tmp_path / 'c.png'))
    assert series['loss'] == [(i, 1.0 / i) for i in range(1, 5)]
    assert series['mIoU'] == [(2, 12.5)]
    assert (tmp_path / 'c.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with pytest.raises(KeyError, match=r"\['mDice'\] not logged .* logged: "
                       r"\['aAcc', 'iter', 'loss', 'lr', 'mIoU', 'step'\]"):
        plot_curves(str(tmp_path), str(tmp_path / 'd.png'),
                    keys=['mDice'])
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data'):
        plot_curves(str(tmp_path / 'nothing'), str(tmp_path / 'e.png'))
