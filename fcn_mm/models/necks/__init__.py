from .jpu import FastFCNJPU, FastFCNJPUX

__all__ = ['FastFCNJPU', 'FastFCNJPUX']
