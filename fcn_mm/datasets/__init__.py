"""Transforms that check data, and the dataset-format logic tools call.

``import fcn_mm`` registers :class:`CheckSegLabels`; the VOC + SBD conversion
(:mod:`.voc_aug`) and the synthetic demo set (:mod:`.synthetic`) are imported
by the tools that use them.
"""
from .transforms import CheckSegLabels

__all__ = ['CheckSegLabels']
