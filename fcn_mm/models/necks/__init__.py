from .jpu import FastFCNJPU

__all__ = ['FastFCNJPU']
