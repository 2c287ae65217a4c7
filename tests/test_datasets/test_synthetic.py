"""Tests of the synthetic VOC 2012 + SBD data (fcn_mm.datasets.synthetic)."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat
from scipy.sparse import issparse

from fcn_mm.datasets.synthetic import DEMO_CLASSES, make_demo_dataset
from fcn_mm.datasets.voc_aug import voc_palette

REPO = Path(__file__).resolve().parents[2]
TINY = dict(
    num_voc_train=5, num_voc_val=4, num_sbd_train=5, num_sbd_val=4, overlap=1)
VOC_ID = re.compile(r'^20(0[7-9]|1[01])_\d{6}$')


def _files(root):
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(Path(root).rglob('*')) if p.is_file()
    }


def _lists(paths):
    voc = Path(paths['voc2012']) / 'ImageSets' / 'Segmentation'
    sbd = Path(paths['sbd']) / 'dataset'
    return {
        name: path.read_text().splitlines()
        for name, path in dict(
            voc_train=voc / 'train.txt',
            voc_val=voc / 'val.txt',
            sbd_train=sbd / 'train.txt',
            sbd_val=sbd / 'val.txt').items()
    }


def _label_changes(label):
    """Pixels with a differently labelled 8-neighbour (reference version)."""
    height, width = label.shape
    changes = np.zeros(label.shape, bool)
    for y in range(height):
        for x in range(width):
            window = label[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
            changes[y, x] = (window != label[y, x]).any()
    return changes


def test_same_seed_gives_identical_files(tmp_path):
    first = make_demo_dataset(str(tmp_path / 'a'), seed=3, **TINY)
    second = make_demo_dataset(str(tmp_path / 'b'), seed=3, **TINY)
    other = make_demo_dataset(str(tmp_path / 'c'), seed=4, **TINY)
    files = _files(first['root'])
    # 5 + 4 + 3 + 2 images; 9 VOC labels; 9 SBD images and masks; 4 lists.
    assert len(files) == 14 + 9 + 9 + 9 + 4
    assert files == _files(second['root'])
    assert files != _files(other['root'])


def test_layout_formats_and_labels(tmp_path):
    paths = make_demo_dataset(str(tmp_path / 'demo'))
    voc2012, sbd = Path(paths['voc2012']), Path(paths['sbd']) / 'dataset'
    assert Path(paths['devkit']) / 'VOC2012' == voc2012
    lists = _lists(paths)
    assert {k: len(v) for k, v in lists.items()} == dict(
        voc_train=40, voc_val=20, sbd_train=60, sbd_val=30)
    for ids in lists.values():
        assert ids == sorted(set(ids))
        assert all(VOC_ID.match(i) for i in ids)
    voc_train, voc_val = set(lists['voc_train']), set(lists['voc_val'])
    sbd_train, sbd_val = set(lists['sbd_train']), set(lists['sbd_val'])
    assert not voc_train & voc_val and not sbd_train & sbd_val
    for sbd_split in (sbd_train, sbd_val):
        assert len(sbd_split & voc_train) == 5
        assert len(sbd_split & voc_val) == 5
    jpegs = {p.stem for p in (voc2012 / 'JPEGImages').glob('*.jpg')}
    assert jpegs == voc_train | voc_val | sbd_train | sbd_val

    sizes, labels = [], set()
    for image_id in sorted(voc_train | voc_val):
        image = Image.open(voc2012 / 'JPEGImages' / f'{image_id}.jpg')
        png = Image.open(voc2012 / 'SegmentationClass' / f'{image_id}.png')
        assert image.format == 'JPEG' and image.mode == 'RGB'
        assert png.format == 'PNG' and png.mode == 'P'
        assert png.getpalette() == list(voc_palette())
        assert png.size == image.size
        sizes += list(image.size)
        label = np.array(png)
        labels |= set(np.unique(label).tolist())
        assert (label == 255).any() and (label != 255).any()
    assert labels == {0, 255} | set(DEMO_CLASSES)
    assert min(sizes) >= 96 and max(sizes) <= 160
    assert any(s % 2 for s in sizes)

    for image_id in sorted(sbd_train | sbd_val):
        assert (sbd / 'img' / f'{image_id}.jpg').read_bytes() == (
            voc2012 / 'JPEGImages' / f'{image_id}.jpg').read_bytes()
        gt = loadmat(sbd / 'cls' / f'{image_id}.mat')['GTcls'][0, 0]
        seg = gt['Segmentation']
        assert seg.dtype == np.uint8 and not (seg == 255).any()
        width, height = Image.open(sbd / 'img' / f'{image_id}.jpg').size
        assert seg.shape == (height, width)
        present = np.unique(seg)
        np.testing.assert_array_equal(gt['CategoriesPresent'].ravel(),
                                      present[present > 0])
        boundaries = gt['Boundaries']
        assert boundaries.shape == (20, 1)
        for cls in range(1, 21):
            edge = boundaries[cls - 1, 0]
            assert issparse(edge) and edge.shape == seg.shape
            edge = edge.toarray().astype(bool)
            assert edge.any() == (cls in present)
            assert (seg[edge] == cls).all()

    # A shared id has one scene: VOC's label is SBD's plus a 255 band on
    # exactly the pixels next to a label change (2 px across a contour).
    for image_id in sorted((voc_train | voc_val) & (sbd_train | sbd_val))[:4]:
        seg = loadmat(sbd / 'cls' /
                      f'{image_id}.mat')['GTcls'][0, 0]['Segmentation']
        label = np.array(
            Image.open(voc2012 / 'SegmentationClass' / f'{image_id}.png'))
        np.testing.assert_array_equal(label == 255, _label_changes(seg))
        np.testing.assert_array_equal(label[label != 255], seg[label != 255])


def test_class_colours_separate_pixels(tmp_path):
    """Learnability proxy: a nearest-mean-colour rule labels pixels well."""
    paths = make_demo_dataset(str(tmp_path / 'demo'), **TINY)
    voc2012 = Path(paths['voc2012'])
    pixels, targets = [], []
    for image_id in _lists(paths)['voc_train'] + _lists(paths)['voc_val']:
        image = np.array(Image.open(voc2012 / 'JPEGImages' /
                                    f'{image_id}.jpg')).astype(float)
        label = np.array(
            Image.open(voc2012 / 'SegmentationClass' / f'{image_id}.png'))
        pixels.append(image[label != 255])
        targets.append(label[label != 255])
    pixels, targets = np.concatenate(pixels), np.concatenate(targets)
    classes = np.unique(targets)
    means = np.stack([pixels[targets == c].mean(0) for c in classes])
    nearest = classes[np.argmin(
        ((pixels[:, None] - means[None]) ** 2).sum(-1), axis=1)]
    assert (nearest == targets).mean() > 0.9


def test_overlap_must_fit(tmp_path):
    with pytest.raises(ValueError, match='overlap=3'):
        make_demo_dataset(str(tmp_path), num_voc_val=5, overlap=3)
    with pytest.raises(ValueError, match='num_sbd_val'):
        make_demo_dataset(str(tmp_path), num_sbd_val=0)


def test_cli_writes_the_dataset(tmp_path):
    script = REPO / 'tools' / 'misc' / 'make_demo_data.py'
    done = subprocess.run(
        [sys.executable, script, tmp_path / 'demo', '--seed', '1'],
        capture_output=True,
        text=True)
    assert done.returncode == 0, done.stderr
    voc2012 = tmp_path / 'demo' / 'VOCdevkit' / 'VOC2012'
    assert f'wrote VOC 2012 to {voc2012}' in done.stdout
    assert len(list((voc2012 / 'JPEGImages').glob('*.jpg'))) == 130


def test_demo_voc_root_fixture_is_converted(demo_voc_root):
    root = Path(demo_voc_root)
    seg_dir = root / 'ImageSets' / 'Segmentation'
    assert len((seg_dir / 'aug.txt').read_text().splitlines()) == 70
    assert len((seg_dir / 'trainaug.txt').read_text().splitlines()) == 110
    assert len(list((root / 'SegmentationClassAug').glob('*.png'))) == 90
