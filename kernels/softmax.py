"""Softmax over one axis of a float32 tensor viewed as [outer, n, inner] (opset-13 semantics).

Numerically stable: subtract the max along the axis before exp. The inner == 1 case (softmax over
the last axis, as in attention and classifier heads) is the contiguous fast path."""

import math

import numpy as np
from ._jit import helper, kernel
from .unary import fast_exp


@helper
def row_max(x):
    """max of a contiguous 1-D row. LLVM does not vectorise a float max-reduction loop here, so eight
    independent accumulators over [rows, 8] (constant column indices) do it: ~5x faster."""
    n = x.shape[0]
    n8 = n - n % 8
    x8 = x[:n8].reshape(n8 // 8, 8)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.float32(-np.inf)
    for r in range(n8 // 8):
        row = x8[r]
        a0 = max(a0, row[0])
        a1 = max(a1, row[1])
        a2 = max(a2, row[2])
        a3 = max(a3, row[3])
        a4 = max(a4, row[4])
        a5 = max(a5, row[5])
        a6 = max(a6, row[6])
        a7 = max(a7, row[7])
    m = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
    for i in range(n8, n):
        m = max(m, x[i])
    return m


@kernel
def softmax(x, out, log):
    """x, out: [outer, n, inner] C-contiguous; log=True gives LogSoftmax."""
    outer, n, inner = x.shape
    if inner == 1 and n >= 16 and not log:  # contiguous rows: vectorised exp (very short rows: scalar)
        x2 = x.reshape(outer, n)
        o2 = out.reshape(outer, n)
        for o in range(outer):
            xr = x2[o]
            orow = o2[o]
            m = row_max(xr)
            s = np.float32(0.0)
            for i in range(n):  # exp and its sum in one vectorised pass
                e = fast_exp(xr[i] - m)
                orow[i] = e
                s += e
            r = np.float32(1.0) / s
            for i in range(n):
                orow[i] *= r
        return
    for o in range(outer):
        for k in range(inner):
            m = np.float32(-np.inf)
            for i in range(n):
                v = x[o, i, k]
                if v > m:
                    m = v
            s = np.float32(0.0)
            if log:
                for i in range(n):
                    s += np.float32(math.exp(x[o, i, k] - m))
                ls = m + np.float32(math.log(s))
                for i in range(n):
                    out[o, i, k] = x[o, i, k] - ls
            else:
                for i in range(n):
                    e = np.float32(math.exp(x[o, i, k] - m))
                    out[o, i, k] = e
                    s += e
                r = np.float32(1.0) / s
                for i in range(n):
                    out[o, i, k] *= r
