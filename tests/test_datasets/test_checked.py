"""Checked datasets: bad split files, missing, empty or unreadable images and
labels, misaligned labels and stray classes are named with their files."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tool_runs import REAL_VOC

from fcn_mm.datasets import (CheckedBaseSegDataset, CheckedPascalVOCDataset,
                             DataFileError)

pytestmark = pytest.mark.usefixtures('mmseg_scope')

IDS = ('2007_000033', 'val513_000')
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='CheckSegLabels')]


@pytest.fixture
def voc(tmp_path) -> Path:
    """Two real VOC pairs in VOC's layout, listed in ``split.txt``."""
    for folder, suffix in (('JPEGImages', '.jpg'),
                           ('SegmentationClass', '.png')):
        (tmp_path / folder).mkdir()
        for name in IDS:
            shutil.copy(REAL_VOC / folder / f'{name}{suffix}', tmp_path /
                        folder)
    (tmp_path / 'split.txt').write_text(''.join(f'{i}\n' for i in IDS))
    return tmp_path


def _dataset(root, cls=CheckedPascalVOCDataset, **kwargs):
    return cls(data_root=str(root), ann_file='split.txt',
               data_prefix=dict(img_path='JPEGImages',
                                seg_map_path='SegmentationClass'),
               pipeline=PIPELINE, **kwargs)


def test_real_pairs_load_with_the_class_count(voc):
    dataset = _dataset(voc)
    assert len(dataset) == 2
    sample = dataset[0]
    assert sample['num_classes'] == 21
    assert sample['gt_seg_map'].shape == (366, 500)


@pytest.mark.parametrize('text, found', [
    ('', 'is empty: list one image name'),
    ('2007_000033\n\nval513_000\n', ', line 2: found a blank line'),
    ('2007_000033\nval513_000\n\n', ', line 3: found a blank line'),
    ('2007_000033 extra\n', ", line 1: found '2007_000033 extra'"),
])
def test_bad_split_file_names_file_and_line(voc, text, found):
    (voc / 'split.txt').write_text(text)
    with pytest.raises(DataFileError) as error:
        _dataset(voc)
    assert str(voc / 'split.txt') in str(error.value)
    assert found in str(error.value)


@pytest.mark.parametrize('folder, suffix', [('JPEGImages', '.jpg'),
                                            ('SegmentationClass', '.png')])
def test_missing_or_empty_files_are_named_with_their_line(voc, folder, suffix):
    path = voc / folder / f'val513_000{suffix}'
    path.write_bytes(b'')
    with pytest.raises(DataFileError, match=rf'split\.txt, line 2: {path} is '
                       r'empty \(0 bytes\)'):
        _dataset(voc)
    path.unlink()
    with pytest.raises(DataFileError, match=rf'line 2: {path} does not exist'):
        _dataset(voc)


def test_unreadable_label_names_both_files(voc):
    (voc / 'SegmentationClass' / 'val513_000.png').write_bytes(b'not a png')
    dataset = _dataset(voc)
    with pytest.raises(DataFileError) as error:
        dataset[1]
    assert str(error.value).startswith(
        f'could not load {voc}/JPEGImages/val513_000.jpg and '
        f'{voc}/SegmentationClass/val513_000.png: ')


def test_label_of_another_size_names_both_files(voc):
    label = voc / 'SegmentationClass' / '2007_000033.png'
    Image.open(label).crop((0, 0, 400, 366)).save(label)
    with pytest.raises(ValueError) as error:
        _dataset(voc)[0]
    assert str(error.value) == (
        f'{label}: the label map is 400x366 (WxH) but its image '
        f'{voc}/JPEGImages/2007_000033.jpg is 500x366; a label must have its '
        "image's size, pixel for pixel: fix or remove this pair")


def test_class_count_comes_from_the_dataset(voc):
    # A 4-class set with a stray label 7: the count follows metainfo.
    label = voc / 'SegmentationClass' / 'val513_000.png'
    values = np.array(Image.open(label)) % 4
    values[0, 0] = 7
    Image.fromarray(values.astype(np.uint8)).save(label)
    metainfo = dict(classes=('a', 'b', 'c', 'd'),
                    palette=[[0, 0, 0]] * 4)
    dataset = _dataset(voc, cls=CheckedBaseSegDataset, metainfo=metainfo,
                       img_suffix='.jpg', seg_map_suffix='.png')
    with pytest.raises(ValueError, match=r'label values \[7\] are outside the '
                       r'classes 0\.\.3 \(the dataset has 4 classes'):
        dataset[1]
    dataset.pipeline.transforms[2].num_classes = 21  # an inherited count
    with pytest.raises(ValueError, match=r'CheckSegLabels\(num_classes=21\) '
                       'but the dataset has 4 classes; remove num_classes'):
        dataset[0]
