"""Transforms that check data, and the dataset-format logic tools call.

``import fcn_mm`` registers :class:`CheckSegLabels` and the checked dataset
types of :mod:`.checked`; the VOC + SBD conversion
(:mod:`.voc_aug`) and the synthetic demo set (:mod:`.synthetic`) are imported
by the tools that use them.
"""
from .checked import (LABEL_SAMPLES, CheckedADE20KDataset,
                      CheckedBaseSegDataset, CheckedPascalVOCDataset,
                      DataFileError)
from .transforms import CheckSegLabels

__all__ = [
    'CheckSegLabels', 'CheckedADE20KDataset', 'CheckedBaseSegDataset',
    'CheckedPascalVOCDataset', 'DataFileError', 'LABEL_SAMPLES'
]
