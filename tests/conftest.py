"""Shared pytest fixtures."""
import re

import pytest


@pytest.fixture(scope='session')
def demo_voc_root(tmp_path_factory) -> str:
    """The synthetic VOC2012 folder, converted: ``SegmentationClassAug`` and
    ``ImageSets/Segmentation/{train,val,aug,trainaug}.txt`` are ready."""
    from fcn_mm.datasets.synthetic import make_demo_dataset
    from fcn_mm.datasets.voc_aug import convert_voc_aug

    paths = make_demo_dataset(str(tmp_path_factory.mktemp('demo_data')))
    convert_voc_aug(paths['devkit'], paths['sbd'])
    return paths['voc2012']


def _printed_summary(output: str) -> dict:
    """The metrics of the last table tools/test.py printed:
    ``| aAcc | mIoU | mAcc |`` over a row of values."""
    lines = output.splitlines()
    header = max(i for i, line in enumerate(lines)
                 if re.fullmatch(r'\|\s+aAcc\s+\|.*\|', line))
    names = lines[header].strip('|').split('|')
    values = lines[header + 2].strip('|').split('|')
    return {n.strip(): float(v) for n, v in zip(names, values)}


@pytest.fixture(scope='session')
def printed_summary():
    """``printed_summary(output) -> {'aAcc': .., 'mIoU': .., 'mAcc': ..}``."""
    return _printed_summary
