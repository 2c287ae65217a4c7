from .fcn8s_head import FCN8sHead
from .reduced_fcn_head import ReducedFCNHead

__all__ = ['FCN8sHead', 'ReducedFCNHead']
