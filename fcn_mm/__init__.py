"""fcn_mm: Fully Convolutional Networks as an MMSegmentation 1.x plugin.

Importing the package registers its models and its label check into mmseg's
registries; configs reach it through ``custom_imports`` in
``configs/_base_/default_runtime.py``.
"""
from .datasets import CheckSegLabels
from .models import (FastFCNJPU, FastFCNJPUX, FCN8sHead, FCNVGG16,
                     ReducedFCNHead)

__version__ = '0.1.0'

__all__ = [
    'CheckSegLabels', 'FCNVGG16', 'FCN8sHead', 'ReducedFCNHead', 'FastFCNJPU',
    'FastFCNJPUX', '__version__'
]
