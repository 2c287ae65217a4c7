"""tools/predict.py with an exported graph (--backend onnxruntime) and on the
fast path gives the labels of plain PyTorch, on demo and real VOC images of
sizes the export never saw."""
import shutil

import numpy as np
import pytest
from PIL import Image
from tool_runs import REAL_VOC

pytest.importorskip('onnxruntime', reason='the deploy extra: pip install '
                    "'fcn_mm[deploy]'")


def _images(demo_voc_root, folder):
    folder.mkdir()
    demo_ids = open(f'{demo_voc_root}/ImageSets/Segmentation/val.txt').read()
    sources = [f'{demo_voc_root}/JPEGImages/{i}.jpg'
               for i in demo_ids.split()[:2]]
    sources += [REAL_VOC / 'JPEGImages' / f'{i}.jpg'  # 500x366, 513x513
                for i in ('2007_000033', 'val513_000')]
    return [shutil.copy(src, folder) for src in sources]


def _predict(run_tool, config, checkpoint, images, out_dir, *extra):
    output = run_tool('predict', config, checkpoint, *images, '--out-dir',
                      out_dir, '--save-index', *extra,
                      cwd=out_dir.parent).stdout
    return output, {p.name: np.array(Image.open(p))
                    for p in sorted(out_dir.glob('*_pred.png'))}


@pytest.mark.slow
def test_onnxruntime_and_fast_path_give_pytorch_labels(
        demo_checkpoint, demo_config, demo_voc_root, run_tool, tmp_path):
    images = _images(demo_voc_root, tmp_path / 'images')
    onnx = tmp_path / 'demo.onnx'
    run_tool('deploy/export_onnx', demo_config, demo_checkpoint, onnx,
             '--shape', '96', '128', cwd=tmp_path)
    _, reference = _predict(run_tool, demo_config, demo_checkpoint, images,
                            tmp_path / 'pytorch')
    assert len(reference) == len(images)
    _, exported = _predict(run_tool, demo_config, onnx, images,
                           tmp_path / 'onnx', '--backend', 'onnxruntime')
    output, fast = _predict(run_tool, demo_config, demo_checkpoint, images,
                            tmp_path / 'fast', '--fast-path')
    assert 'fast path: ' in output
    total = sum(label.size for label in reference.values())
    for name, labels in (('onnxruntime', exported), ('fast path', fast)):
        assert labels.keys() == reference.keys(), name
        assert all(labels[k].shape == reference[k].shape for k in labels)
        same = sum((labels[k] == reference[k]).sum() for k in labels)
        # float32 rounding may flip a near-tie pixel; bf16 a few more.
        least = 0.9999 if name == 'onnxruntime' else 0.995
        assert same / total >= least, f'{name}: {same / total:.5f}'


@pytest.mark.parametrize('extra, message', [
    (['--fast-path'], '--fast-path is for the PyTorch backend'),
    ([], 'onnxruntime cannot load {model}'),
])
def test_bad_onnxruntime_runs_say_why(extra, message, run_tool, demo_config,
                                      tmp_path):
    image = tmp_path / 'a.jpg'
    Image.new('RGB', (8, 8)).save(image)
    model = tmp_path / 'model.pth'
    model.write_bytes(b'not an onnx graph')
    result = run_tool('predict', demo_config, model, image, '--backend',
                      'onnxruntime', *extra, cwd=tmp_path,
                      expect_success=False)
    assert result.returncode == 1
    assert message.format(model=model) in result.stdout
    assert 'Traceback' not in result.stdout
