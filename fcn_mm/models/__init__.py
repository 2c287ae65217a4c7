from .backbones import FCNVGG16
from .decode_heads import FCN8sHead, ReducedFCNHead
from .necks import FastFCNJPU

__all__ = ['FCNVGG16', 'FCN8sHead', 'ReducedFCNHead', 'FastFCNJPU']
