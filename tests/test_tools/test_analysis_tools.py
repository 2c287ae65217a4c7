"""tools/analysis_tools: each runs on an fcn_mm config or run and prints or
draws what it says."""
import json
import re

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.usefixtures('one_thread')


def test_get_flops_and_benchmark(load_tool, demo_config, capsys):
    info = load_tool('tools/analysis_tools/get_flops.py').main(
        [str(demo_config), '--shape', '64', '64'])
    assert f"params {info['params'] / 1e6:.2f} M ({info['params']})" in \
        capsys.readouterr().out
    speed = load_tool('tools/analysis_tools/benchmark.py').main(
        [str(demo_config), '--shape', '64', '64', '--iters', '2',
         '--warmup', '1', '--device', 'cpu'])
    out = capsys.readouterr().out
    assert re.search(r'\|\s+cpu\s+\|\s+1x3x64x64\s+\|', out)
    assert f"{speed['images_per_s']:.2f}" in out


def test_missing_config_is_named(load_tool, tmp_path):
    with pytest.raises(SystemExit, match=f'{tmp_path}/nope.py does not '
                       'exist'):
        load_tool('tools/analysis_tools/get_flops.py').main(
            [str(tmp_path / 'nope.py')])


def test_curves_of_a_trained_run(load_tool, trained_work_dir, tmp_path,
                                 capsys):
    out = load_tool('tools/analysis_tools/analyze_logs.py').main(
        [str(trained_work_dir), '--keys', 'loss', 'lr', '--out',
         str(tmp_path / 'curves.png')])
    assert Image.open(out).format == 'PNG'
    assert 'loss: 2 points' in capsys.readouterr().out


def test_confusion_matrix_plot_of_a_report(load_tool, tmp_path):
    confusion = np.array([[50, 3, 0], [400, 100, 0], [0, 0, 0]])
    report = dict(classes=['a', 'b', 'c'],
                  confusion_matrix=confusion.tolist())
    path = tmp_path / 'per_class.json'
    path.write_text(json.dumps(report))
    out = load_tool('tools/analysis_tools/confusion_matrix.py').main(
        [str(path)])
    assert out == str(tmp_path / 'confusion_matrix.png')
    assert Image.open(out).format == 'PNG'
    path.write_text('{}')
    with pytest.raises(SystemExit, match='not a per_class.json'):
        load_tool('tools/analysis_tools/confusion_matrix.py').main(
            [str(path)])
