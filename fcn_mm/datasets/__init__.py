"""Dataset-format logic: the VOC 2012 + SBD conversion and a synthetic VOC."""
from .synthetic import DEMO_CLASSES, make_demo_dataset
from .transforms import CheckSegLabels
from .voc_aug import DatasetConversionError, convert_voc_aug, voc_palette

__all__ = [
    'CheckSegLabels', 'DEMO_CLASSES', 'DatasetConversionError', 'convert_voc_aug',
    'make_demo_dataset', 'voc_palette'
]
