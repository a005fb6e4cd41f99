"""Fused epilogues: bias + activation applied while a GEMM result moves to (or sits in) its output.
Activation codes and parameters are those of kernels/act.py.

Loops index 1-D row slices from 0: an index like `col0 + j` makes Numba emit a negative-index wraparound
check per element, which stops LLVM vectorising (measured 3-4x slower). None/ReLU get their own loops so
the common cases vectorise without the activation switch inside."""

import numpy as np

from . import act
from ._jit import kernel
from .half import store


@kernel
def _row(s, d, b, code, p0, p1):
    n = s.shape[0]
    if code == 0:
        for j in range(n):
            store(d, j, s[j] + b)
    elif code == 1:
        zero = np.float32(0.0)
        for j in range(n):
            v = s[j] + b
            store(d, j, max(v, zero))
    elif code == 2:
        for j in range(n):
            store(d, j, min(max(s[j] + b, p0), p1))
    elif code == act.HARDSWISH:  # spelled out: through act.apply's switch the loop did not vectorise
        for j in range(n):
            store(d, j, act.hardswish(s[j] + b))
    elif code == act.HARDSIGMOID:
        for j in range(n):
            store(d, j, act.hardsigmoid(s[j] + b, p0, p1))
    else:
        for j in range(n):
            store(d, j, act.apply(s[j] + b, code, p0, p1))


@kernel
def bias_act_rows(src, dst, col0, bias, code, p0, p1):
    """dst[k, col0 + j] = act(src[k, j] + bias[k]) for a [K, T] tile src into a [K, HW] dst.
    src may be dst itself (col0 = 0, T = HW): the in-place epilogue of a 1x1 conv. dst may store fp16
    (uint16 bits; then src is a separate float32 tile)."""
    T = src.shape[1]
    for k in range(src.shape[0]):
        _row(src[k], dst[k, col0:col0 + T], bias[k], code, p0, p1)


@kernel
def bias_act_cols(y, bias, code, p0, p1):
    """In place: y[m, n] = act(y[m, n] + bias[n]) (Gemm/MatMul epilogue: one bias per output column)."""
    zero = np.float32(0.0)
    for m in range(y.shape[0]):
        r = y[m]
        if code == 0:
            for n in range(r.shape[0]):
                r[n] = r[n] + bias[n]
        elif code == 1:
            for n in range(r.shape[0]):
                v = r[n] + bias[n]
                r[n] = max(v, zero)
        else:
            for n in range(r.shape[0]):
                r[n] = act.apply(r[n] + bias[n], code, p0, p1)
