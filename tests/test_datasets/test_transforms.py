"""CheckSegLabels: real labels pass, unusable ones fail naming the file."""
import numpy as np
import pytest
from mmseg.datasets.transforms import LoadAnnotations
from PIL import Image

from tool_runs import REAL_ADE, REAL_VOC

from fcn_mm.datasets import CheckSegLabels

VOC_LABELS = REAL_VOC / 'SegmentationClass'
ADE_LABELS = REAL_ADE / 'annotations' / 'validation'


def load(path, reduce_zero_label=False):
    return LoadAnnotations()(dict(
        seg_map_path=str(path), reduce_zero_label=reduce_zero_label,
        seg_fields=[]))


@pytest.mark.parametrize('path', sorted(VOC_LABELS.glob('*.png')),
                         ids=lambda p: p.stem)
def test_real_voc_labels_pass(path):
    results = load(path)
    assert CheckSegLabels(num_classes=21)(results) is results


@pytest.mark.parametrize('path', sorted(ADE_LABELS.glob('*.png')),
                         ids=lambda p: p.stem)
def test_real_ade20k_labels_pass_after_reduce_zero_label(path):
    CheckSegLabels(num_classes=150)(load(path, reduce_zero_label=True))


def test_out_of_range_label_names_the_file_and_values(tmp_path):
    label = np.zeros((5, 7), np.uint8)
    label[0, 0], label[1, 1], label[2, 2] = 21, 40, 255
    path = tmp_path / 'bad.png'
    Image.fromarray(label).save(path)
    with pytest.raises(ValueError, match=r'bad\.png: label values \[21, 40\] '
                       r'are outside the classes 0\.\.20'):
        CheckSegLabels(num_classes=21)(load(path))


def test_rgb_label_image_names_the_file(tmp_path):
    path = tmp_path / 'rgb.png'
    Image.open(sorted(VOC_LABELS.glob('*.png'))[0]).convert('RGB').save(path)
    with pytest.raises(ValueError, match=r'rgb\.png: the label map has shape '
                       r'\(\d+, \d+, 3\).*single-channel'):
        CheckSegLabels(num_classes=21)(load(path))


def test_unlabelled_inference_passes_through():
    # mmseg's inference_model removes LoadAnnotations from the test pipeline.
    results = dict(img_path='x.jpg', img=np.zeros((4, 4, 3), np.uint8))
    assert CheckSegLabels(num_classes=21)(results) is results


def test_without_a_class_count_it_says_where_to_get_one():
    label = sorted(VOC_LABELS.glob('*.png'))[0]
    with pytest.raises(ValueError, match=r'does not know the class count; '
                       r"use one of fcn_mm's checked dataset types"):
        CheckSegLabels()(load(label))
    # A checked dataset puts its class count into every sample.
    results = dict(load(label), num_classes=21)
    assert CheckSegLabels()(results) is results


@pytest.mark.parametrize('shape', [(1, 1), (1, 5), (5, 1)])
def test_label_one_pixel_high_or_wide_says_why_its_shape_is_lost(tmp_path,
                                                                 shape):
    path = tmp_path / 'thin.png'
    Image.fromarray(np.zeros(shape, np.uint8)).save(path)
    with pytest.raises(ValueError, match=r'thin\.png: the label map has shape '
                       r'\((\d+,)?\), expected \(H, W\) class indices; '
                       r"mmseg's LoadAnnotations drops dimensions of size 1"):
        CheckSegLabels(num_classes=21)(load(path))
