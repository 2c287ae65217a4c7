"""fcn_mm: Fully Convolutional Networks as an MMSegmentation 1.x plugin.

Importing the package registers its models and its label check into mmseg's
registries and lets torch's weights-only loader read the checkpoints mmengine
writes; configs reach it through ``custom_imports`` in
``configs/_base_/default_runtime.py``. Nothing else is loaded: tools import
:mod:`fcn_mm.apis`, :mod:`fcn_mm.converters` and the runner-side modules of
:mod:`fcn_mm.engine` themselves.
"""
from .datasets import CheckSegLabels
from .engine import allow_mmengine_checkpoints
from .models import FastFCNJPU, FCN8sHead, FCNVGG16, ReducedFCNHead

__version__ = '0.1.0'

# mmseg's init_model, MMSegInferencer and the runner's resume call torch.load
# weights-only (torch >= 2.6) on checkpoints that hold mmengine objects.
allow_mmengine_checkpoints()

__all__ = [
    'CheckSegLabels', 'FCNVGG16', 'FCN8sHead', 'ReducedFCNHead', 'FastFCNJPU',
    '__version__'
]
