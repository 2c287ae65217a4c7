"""Weight converters: checkpoints of other codebases -> fcn_mm's keys.

``tools/model_converters/*.py`` are command lines over these functions.
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
