"""tools/predict.py: overlays (and index PNGs on request) for files, folders
and globs, in ./predictions unless --out-dir says otherwise; long names and
the classes of a config's metainfo on every backend."""
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.datasets import PascalVOCDataset
from PIL import Image
from tool_runs import REPO

from fcn_mm.apis import onnx_inference
from fcn_mm.apis.onnx_inference import OnnxSegmentor, dataset_meta
from fcn_mm.fileio import NAME_MAX, atomic_write, temporary_name


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


def test_a_229_character_name_is_predicted(tmp_path, trained_work_dir,
                                           load_tool, demo_config,
                                           demo_voc_root):
    [image] = _copy_val_images(demo_voc_root, tmp_path / 'photos', count=1)
    stem = 'p' * 225  # 229 characters with .jpg; file names may have 255
    image = image.rename(image.with_name(f'{stem}.jpg'))
    out = tmp_path / 'out'
    assert load_tool('tools/predict.py').main(
        [str(demo_config), str(trained_work_dir / 'iter_2.pth'), str(image),
         '--out-dir', str(out), '--save-index']) == 0
    assert sorted(os.listdir(out)) == [f'{stem}_overlay.png',
                                       f'{stem}_pred.png']


@pytest.mark.parametrize('name', ['a' * 250, 'é' * 125, 'x.png'])
def test_temporary_names_fit_the_file_system(tmp_path, name):
    temporary = temporary_name(name, 'overlay')
    assert len(temporary.encode()) <= NAME_MAX
    assert temporary.startswith('.' + name[:20]) and \
        temporary.endswith('.fcn_mm_tmp') and '.overlay' in temporary
    atomic_write(tmp_path / name, lambda f: f.write(b'done'), 'overlay')
    assert os.listdir(tmp_path) == [name]
    assert (tmp_path / name).read_bytes() == b'done'


class _FakeSession:
    """Stands for an onnxruntime session of an exported graph."""

    def get_inputs(self):
        return [SimpleNamespace(name='image')]

    def get_outputs(self):
        return [SimpleNamespace(name='logits')]


def test_onnx_backend_takes_the_classes_of_the_configs_metainfo(
        monkeypatch, mmseg_scope):
    monkeypatch.setattr(onnx_inference, 'onnx_session',
                        lambda path, threads=None: _FakeSession())
    own = Config.fromfile(
        REPO / 'configs/custom/fcn8s_vgg16_custom-dataset.py')
    meta = OnnxSegmentor('own.onnx', own).dataset_meta
    metainfo = own.test_dataloader.dataset.metainfo
    assert meta['classes'] == metainfo.classes
    assert [list(c) for c in meta['palette']] == metainfo.palette

    voc = OnnxSegmentor('voc.onnx', Config.fromfile(
        REPO / 'configs/fcn8s_voc_aug.py')).dataset_meta
    assert voc['classes'] == PascalVOCDataset.METAINFO['classes']
    assert len(voc['palette']) == 21

    # Classes without a palette get mmseg's seeded colours, as in training.
    own.test_dataloader.dataset.metainfo = dict(classes=('bg', 'thing'))
    colours = dataset_meta(own)['palette']
    assert len(colours) == 2 and colours == dataset_meta(own)['palette']
    own.test_dataloader.dataset.metainfo = None
    with pytest.raises(ValueError, match='names no classes; give them as '
                       'its metainfo'):
        dataset_meta(own)
