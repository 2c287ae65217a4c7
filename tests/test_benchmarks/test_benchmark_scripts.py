"""The benchmark scripts the README quotes still run (at toy sizes, without
the ONNX export that tests/test_deploy covers; their numbers are measured by
hand, never asserted)."""
import re

import pytest
import torch

pytestmark = pytest.mark.usefixtures('mmseg_scope', 'one_thread')


def test_inference_benchmark_prints_every_column(load_tool, capsys):
    bench = load_tool('benchmarks/inference.py')
    bench.main(['--size', '64', '--iters', '1', '--threads', '1',
                '--families', 'torchvision FCN R-50', '--no-onnx'])
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines()
             if 'torchvision FCN R-50 |' in line]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert len(cells) == 7
    assert all(re.fullmatch(r'[\d.]+ s \([\d.]+x\)', c) for c in cells[1:4])
    assert cells[4] == '-'  # onnxruntime: tests/test_deploy export it
    assert cells[1].endswith('(1.00x)')
    assert re.fullmatch(r'[\d.]+%', cells[5])
    assert cells[6] in ('fp32', 'fp32+channels_last', 'bf16+channels_last')


def test_trained_fast_path_benchmark_config_builds(load_tool, tmp_path):
    from mmengine.config import Config
    from mmseg.registry import MODELS
    bench = load_tool('benchmarks/fast_path_trained.py')
    path = bench.write_config('data/demo/VOCdevkit/VOC2012', tmp_path)
    cfg = Config.fromfile(path)
    assert cfg.test_dataloader.dataset.data_root == \
        'data/demo/VOCdevkit/VOC2012'
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert type(model.decode_head).__name__ == 'EncHead'
    assert model.decode_head.conv_seg.in_channels == 256  # half of 512
