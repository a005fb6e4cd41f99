"""Fused epilogues: bias + activation applied while a GEMM result moves to (or sits in) its output.
Activation codes and parameters are those of kernels/act.py."""

import numpy as np

from . import act
from ._jit import kernel


@kernel
def bias_act_rows(src, dst, col0, bias, code, p0, p1):
    """dst[k, col0 + j] = act(src[k, j] + bias[k]) for a [K, T] tile src into a [K, HW] dst.
    src may be dst itself (col0 = 0, T = HW): the in-place epilogue of a 1x1 conv."""
    for k in range(src.shape[0]):
        b = bias[k]
        for j in range(src.shape[1]):
            dst[k, col0 + j] = act.apply(src[k, j] + b, code, p0, p1)


@kernel
def bias_act_cols(y, bias, code, p0, p1):
    """In place: y[m, n] = act(y[m, n] + bias[n]) (Gemm/MatMul epilogue: one bias per output column)."""
    for m in range(y.shape[0]):
        for n in range(y.shape[1]):
            y[m, n] = act.apply(y[m, n] + bias[n], code, p0, p1)


def check_rows(src, dst, col0, bias):
    """Bounds of bias_act_rows, checked in Python (kernels do not check)."""
    if src.ndim != 2 or dst.ndim != 2 or src.shape[0] != dst.shape[0] or bias.shape[0] < src.shape[0]:
        raise ValueError(f"epilogue shapes: src {src.shape} dst {dst.shape} bias {bias.shape}")
    if col0 < 0 or col0 + src.shape[1] > dst.shape[1]:
        raise ValueError(f"epilogue columns {col0}+{src.shape[1]} outside {dst.shape[1]}")
    if src.dtype != np.float32 or dst.dtype != np.float32 or bias.dtype != np.float32:
        raise TypeError("epilogue needs float32 arrays")
