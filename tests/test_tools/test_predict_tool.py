"""tools/predict.py: overlays (and index PNGs on request) for files, folders
and globs, in ./predictions unless --out-dir says otherwise."""
import shutil

import numpy as np
import pytest
from PIL import Image


def _copy_val_images(voc_root, folder, count=2):
    folder.mkdir()
    ids = open(f'{voc_root}/ImageSets/Segmentation/val.txt').read().split()
    for image_id in ids[:count]:
        shutil.copy(f'{voc_root}/JPEGImages/{image_id}.jpg', folder)
    return sorted(folder.glob('*.jpg'))


def test_a_folder_gives_overlays_and_index_pngs(
        tmp_path, trained_work_dir, run_tool, demo_config, demo_voc_root):
    images = _copy_val_images(demo_voc_root, tmp_path / 'photos')
    output = run_tool('predict', demo_config, trained_work_dir / 'iter_2.pth',
                      'photos', '--save-index', cwd=tmp_path).stdout
    assert '2 images -> predictions' in output
    for image in images:
        overlay = Image.open(tmp_path / 'predictions' /
                             f'{image.stem}_overlay.png')
        width, height = Image.open(image).size
        assert overlay.height == height and overlay.width > width
        pred = Image.open(tmp_path / 'predictions' / f'{image.stem}_pred.png')
        assert pred.mode == 'P' and pred.size == (width, height)
        assert set(np.unique(np.array(pred))) <= set(range(21))
        # the VOC palette: class 1 (aeroplane) is (128, 0, 0)
        assert pred.getpalette()[3:6] == [128, 0, 0]
    assert list((tmp_path / 'photos').glob('*.png')) == []


def test_a_glob_and_out_dir(tmp_path, trained_work_dir, run_tool,
                            demo_config, demo_voc_root):
    images = _copy_val_images(demo_voc_root, tmp_path / 'photos', count=3)
    run_tool('predict', demo_config, trained_work_dir / 'iter_2.pth',
             str(images[0].parent / '*.jpg'), '--out-dir', 'out',
             cwd=tmp_path)
    assert len(list((tmp_path / 'out').glob('*_overlay.png'))) == 3
    assert list((tmp_path / 'out').glob('*_pred.png')) == []


def test_missing_image_is_named(tmp_path, trained_work_dir, load_tool,
                                demo_config):
    with pytest.raises(SystemExit, match=f'{tmp_path / "nope.jpg"} does not '
                       'exist'):
        load_tool('tools/predict.py').main(
            [str(demo_config), str(trained_work_dir / 'iter_2.pth'),
             str(tmp_path / 'nope.jpg')])
