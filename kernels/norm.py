"""Normalisation and reductions: per-channel affine (inference BatchNormalization), LayerNormalization
over the trailing axes, and mean/sum/max over one contiguous block of axes."""

import math

import numpy as np

from ._jit import kernel

MEAN, SUM, MAX, MIN = 0, 1, 2, 3


@kernel
def channel_affine(x, scale, shift, out):
    """x, out: [N, C, HW]; out = x * scale[c] + shift[c] (BatchNormalization folded to scale/shift)."""
    N, C, HW = x.shape
    for n in range(N):
        for c in range(C):
            a = scale[c]
            b = shift[c]
            for i in range(HW):
                out[n, c, i] = x[n, c, i] * a + b


@kernel
def layer_norm(x, scale, bias, out, eps):
    """x, out: [rows, cols]; scale/bias: [cols]. Two passes (mean, then centred variance) for accuracy."""
    rows, cols = x.shape
    inv = np.float32(1.0) / np.float32(cols)
    for r in range(rows):
        s = np.float32(0.0)
        for i in range(cols):
            s += x[r, i]
        mean = s * inv
        v = np.float32(0.0)
        for i in range(cols):
            d = x[r, i] - mean
            v += d * d
        rstd = np.float32(1.0) / np.float32(math.sqrt(v * inv + eps))
        for i in range(cols):
            out[r, i] = (x[r, i] - mean) * rstd * scale[i] + bias[i]


@kernel
def reduce3(x, out, mode):
    """x: [outer, R, inner] -> out: [outer, inner], reducing the middle axis by MEAN, SUM, MAX or MIN."""
    outer, R, inner = x.shape
    if inner == 1 and (mode == MEAN or mode == SUM):
        for o in range(outer):
            s = np.float32(0.0)
            for r in range(R):
                s += x[o, r, 0]
            out[o, 0] = s / np.float32(R) if mode == MEAN else s
        return
    for o in range(outer):
        for k in range(inner):
            out[o, k] = x[o, 0, k]
        for r in range(1, R):
            if mode == MAX:
                for k in range(inner):
                    v = x[o, r, k]
                    if v > out[o, k]:
                        out[o, k] = v
            elif mode == MIN:
                for k in range(inner):
                    v = x[o, r, k]
                    if v < out[o, k]:
                        out[o, k] = v
            else:
                for k in range(inner):
                    out[o, k] += x[o, r, k]
        if mode == MEAN:
            inv = np.float32(1.0) / np.float32(R)
            for k in range(inner):
                out[o, k] *= inv
