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
    # A 4-class set: the count follows metainfo; a stray label 7 in a label
    # sampled when the dataset is built is refused there, naming the count.
    label = voc / 'SegmentationClass' / 'val513_000.png'
    values = np.array(Image.open(label)) % 4
    Image.fromarray(values.astype(np.uint8)).save(label)
    metainfo = dict(classes=('a', 'b', 'c', 'd'),
                    palette=[[0, 0, 0]] * 4)
    dataset = _dataset(voc, cls=CheckedBaseSegDataset, metainfo=metainfo,
                       img_suffix='.jpg', seg_map_suffix='.png')
    values[0, 0] = 7
    Image.fromarray(values.astype(np.uint8)).save(label)
    with pytest.raises(ValueError, match=r'label values \[7\] are outside the '
                       r'classes 0\.\.3 \(the dataset has 4 classes'):
        dataset[1]
    with pytest.raises(DataFileError, match=rf'^{label}: label values \[7\] '
                       r'are outside the classes 0\.\.3 \(the dataset has 4 '
                       r"classes in metainfo\['classes'\]"):
        _dataset(voc, cls=CheckedBaseSegDataset, metainfo=metainfo,
                 img_suffix='.jpg', seg_map_suffix='.png')
    dataset.pipeline.transforms[2].num_classes = 21  # an inherited count
    with pytest.raises(ValueError, match=r'CheckSegLabels\(num_classes=21\) '
                       'but the dataset has 4 classes; remove num_classes'):
        dataset[0]


def test_duplicate_split_line_names_both_lines(voc):
    (voc / 'split.txt').write_text('2007_000033\nval513_000\n2007_000033\n')
    with pytest.raises(DataFileError) as error:
        _dataset(voc)
    assert str(error.value) == (
        f"{voc}/split.txt, lines 1 and 3: '2007_000033' is listed twice (it "
        'would count twice in training and evaluation); remove one of the '
        'lines')


def test_non_utf8_split_file_names_file_and_line(voc):
    (voc / 'split.txt').write_bytes('2007_000033\nval513_000\ncaf\u00e9\n'
                                    .encode('latin1'))
    with pytest.raises(DataFileError, match=rf'^{voc}/split\.txt, line 3: '
                       r'byte 0xe9 is not UTF-8; save the split file as '
                       'UTF-8'):
        _dataset(voc)


def test_missing_split_file_names_the_key_or_lists_the_folder(voc):
    (voc / 'split.txt').unlink()
    with pytest.raises(DataFileError, match=rf'^ann_file {voc}/split\.txt '
                       r"does not exist: .*set ann_file='' to use every "
                       'image'):
        _dataset(voc)
    dataset = CheckedBaseSegDataset(
        data_root=str(voc), ann_file='', pipeline=PIPELINE,
        data_prefix=dict(img_path='JPEGImages',
                         seg_map_path='SegmentationClass'),
        metainfo=dict(classes=CheckedPascalVOCDataset.METAINFO['classes']))
    assert [Path(dataset.get_data_info(i)['img_path']).stem
            for i in range(len(dataset))] == list(IDS)


def test_no_image_with_the_suffix_names_the_key_and_what_is_there(voc):
    with pytest.raises(DataFileError) as error:
        CheckedBaseSegDataset(
            data_root=str(voc), img_suffix='.png', pipeline=PIPELINE,
            data_prefix=dict(img_path='JPEGImages',
                             seg_map_path='SegmentationClass'))
    assert str(error.value) == (
        f"no images with img_suffix='.png' in {voc}/JPEGImages (suffixes "
        "found there: ['.jpg']): check data_root, data_prefix and img_suffix")


def _own_set(root, labels, *, size=None):
    """images/, labels/ and split.txt: one pair per (H, W) label array."""
    for folder in ('images', 'labels'):
        (root / folder).mkdir()
    names = [f'img{i}' for i in range(len(labels))]
    for name, label in zip(names, labels):
        Image.fromarray(np.zeros(label.shape + (3, ), np.uint8)).save(
            root / 'images' / f'{name}.png')
        Image.fromarray(label).save(root / 'labels' / f'{name}.png')
    (root / 'split.txt').write_text(''.join(f'{n}\n' for n in names))
    return names


def _own_dataset(root, classes=('background', 'object'), **kwargs):
    return CheckedBaseSegDataset(
        data_root=str(root), ann_file='split.txt', pipeline=PIPELINE,
        data_prefix=dict(img_path='images', seg_map_path='labels'),
        img_suffix='.png', seg_map_suffix='.png',
        metainfo=dict(classes=classes, palette=[[0, 0, 0]] * len(classes)),
        **kwargs)


def _mask(*values):
    """A 6x8 uint8 label whose rows take the given values in turn."""
    return np.repeat(np.resize(np.array(values, np.uint8), 6), 8).reshape(6, 8)


def test_binary_masks_saved_as_0_255_are_refused_with_the_fix(tmp_path):
    _own_set(tmp_path, [_mask(0, 255), _mask(0), _mask(255, 0)])
    with pytest.raises(DataFileError) as error:
        _own_dataset(tmp_path)
    assert str(error.value).startswith(
        'the labels hold only 0 and 255 in all 3 label files checked '
        f'({tmp_path}/labels/img0.png, {tmp_path}/labels/img1.png, '
        f'{tmp_path}/labels/img2.png): binary masks saved as 0/255, whose '
        'objects would all be ignored as 255 (the ignore index), leaving only '
        'background to learn and evaluate; add label_map={255: 1} to the '
        'dataset in the config')
    with pytest.raises(DataFileError, match="add 2 classes in metainfo"
                       r"\['classes'\] and label_map=\{255: 1\}"):
        _own_dataset(tmp_path, classes=('a', 'b', 'c'))
    # The fix: 255 is read as class 1, in every sample of the split.
    dataset = _own_dataset(tmp_path, label_map={255: 1})
    assert dataset.metainfo['label_map'] == {255: 1}
    assert np.array_equal(dataset[0]['gt_seg_map'], _mask(0, 1))
    assert np.array_equal(dataset[2]['gt_seg_map'], _mask(1, 0))


def test_two_classes_with_an_ignore_border_are_not_taken_for_masks(tmp_path):
    _own_set(tmp_path, [_mask(0, 255, 1), _mask(0)])
    assert len(_own_dataset(tmp_path)) == 2


def test_label_map_must_map_label_values(tmp_path):
    _own_set(tmp_path, [_mask(0, 1)])
    with pytest.raises(ValueError, match=r"label_map='\{255:1\}'; expected a "
                       r'dict of label values 0\.\.255'):
        _own_dataset(tmp_path, label_map='{255:1}')


def test_label_map_is_refused_with_a_class_subset(voc):
    # mmseg maps a subset of VOC's classes with its own label_map.
    with pytest.raises(ValueError, match=r'CheckedPascalVOCDataset: label_map'
                       r'=\{255: 1\} given while metainfo classes select a '
                       'subset'):
        _dataset(voc, metainfo=dict(classes=('background', 'aeroplane')),
                 label_map={255: 1})


def _save_16bit(path, label):
    Image.fromarray(label.astype(np.uint16)).save(path)
    with Image.open(path) as image:  # a 16-bit PNG, as users' tools write
        assert image.mode.startswith('I')


def test_16bit_label_values_above_255_are_refused_not_wrapped(tmp_path):
    labels = [_mask(0, 1), _mask(1, 0)]
    _own_set(tmp_path, labels)
    dataset = _own_dataset(tmp_path)
    # A 16-bit label holding 0..1 and 255 loads as the same classes.
    _save_16bit(tmp_path / 'labels/img1.png', _mask(1, 0, 255))
    assert np.array_equal(dataset[1]['gt_seg_map'], _mask(1, 0, 255))
    # 256 and 257 would become 0 and 1 (valid classes) after mmseg's cast.
    _save_16bit(tmp_path / 'labels/img1.png',
                np.array(_mask(1, 0), np.uint16) + 256)
    message = (rf'^{tmp_path}/labels/img1\.png: label values \[256, 257\] do '
               r'not fit in 8 bits \(I;16\w* image\); mmseg casts labels to '
               r'uint8, which would turn them into other classes \(256 -> 0, '
               r'257 -> 1\)')
    with pytest.raises(DataFileError, match=message):
        dataset[1]  # a file changed after the dataset was built
    with pytest.raises(DataFileError, match=message):
        _own_dataset(tmp_path)


def test_one_pixel_label_is_named_with_its_size(tmp_path):
    _own_set(tmp_path, [_mask(0, 1), np.ones((1, 1), np.uint8)])
    with pytest.raises(DataFileError, match=rf'^{tmp_path}/labels/img1\.png: '
                       r'the label is 1x1 \(WxH\) pixels; .*at least 2x2'):
        _own_dataset(tmp_path)
