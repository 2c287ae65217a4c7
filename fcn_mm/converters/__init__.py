"""Weight converters: checkpoints of other codebases -> fcn_mm's keys.

Each converter is a name table over :func:`fcn_mm.converters.runner.convert`,
which checks every key and shape against the target model built on the meta
device. ``tools/model_converters/*.py`` are command lines over these functions
(:mod:`fcn_mm.converters.cli`).
"""
from .common import ConversionError, load_source, save_checkpoint
from .fastfcn import convert_fastfcn
from .torchfcn import convert_torchfcn
from .torchvision_fcn import convert_torchvision_fcn
from .vgg import convert_torchvision_vgg16

__all__ = [
    'ConversionError', 'convert_torchfcn', 'convert_torchvision_vgg16',
    'load_source', 'save_checkpoint', 'convert_fastfcn',
    'convert_torchvision_fcn'
]
