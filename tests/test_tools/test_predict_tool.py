"""tools/predict.py: palette predictions beside the images, or in --out-dir."""
import shutil

import numpy as np
from PIL import Image


def test_writes_a_palette_prediction_beside_each_image(
        tmp_path, trained_work_dir, run_tool, demo_config, demo_voc_root):
    ids = (demo_voc_root + '/ImageSets/Segmentation/val.txt')
    images = []
    for image_id in open(ids).read().split()[:2]:
        image = tmp_path / f'{image_id}.jpg'
        shutil.copy(f'{demo_voc_root}/JPEGImages/{image_id}.jpg', image)
        images.append(image)
    output = run_tool('predict', demo_config, trained_work_dir / 'iter_2.pth',
                      *images, cwd=tmp_path).stdout
    for image in images:
        pred_path = image.with_name(f'{image.stem}_pred.png')
        assert f'{image} -> {pred_path}' in output
        pred = Image.open(pred_path)
        assert pred.mode == 'P' and pred.size == Image.open(image).size
        assert set(np.unique(np.array(pred))) <= set(range(21))
        # the VOC palette: class 1 (aeroplane) is (128, 0, 0)
        assert pred.getpalette()[3:6] == [128, 0, 0]


def test_missing_image_is_named(tmp_path, trained_work_dir, run_tool,
                                demo_config):
    result = run_tool('predict', demo_config, trained_work_dir / 'iter_2.pth',
                      tmp_path / 'nope.jpg', cwd=tmp_path,
                      expect_success=False)
    assert result.returncode != 0
    assert f'{tmp_path / "nope.jpg"} does not exist' in result.stdout
