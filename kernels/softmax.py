"""Softmax over one axis of a float32 tensor viewed as [outer, n, inner] (opset-13 semantics).

Numerically stable: subtract the max along the axis before exp. The inner == 1 case (softmax over
the last axis, as in attention and classifier heads) is the contiguous fast path."""

import math

import numpy as np

from ._jit import kernel


@kernel
def softmax(x, out, log):
    """x, out: [outer, n, inner] C-contiguous; log=True gives LogSoftmax."""
    outer, n, inner = x.shape
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
