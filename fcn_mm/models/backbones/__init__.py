from .vgg import FCNVGG16

__all__ = ['FCNVGG16']
