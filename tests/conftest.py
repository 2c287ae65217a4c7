"""Shared pytest fixtures."""
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
