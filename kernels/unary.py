"""Elementwise activations and math functions over flat float32 buffers (the caller passes contiguous views).

One kernel, one signature for every unary op: the op code selects a loop (the branch sits outside the
loop, so each loop vectorises). Codes 0-8 are kernels/act.py's activation codes; the rest extend them."""

import math

import numpy as np
from numba import prange

from . import act
from ._jit import kernel

IDENTITY, RELU, CLIP, HARDSIGMOID, HARDSWISH, SIGMOID, SILU, TANH, GELU = (
    act.NONE, act.RELU, act.CLIP, act.HARDSIGMOID, act.HARDSWISH, act.SIGMOID, act.SILU, act.TANH, act.GELU)
EXP, SQRT, NEG, ERF, LEAKYRELU, ABS, LOG, RECIPROCAL, GELU_TANH, SOFTPLUS = range(9, 19)


@kernel
def relu(x, out):
    """out = max(x, 0); x and out are 1-D contiguous float32 of equal length."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > np.float32(0.0) else np.float32(0.0)


@kernel
def unary(x, out, code, p0, p1):
    """out = f_code(x); p0/p1: clip min/max, hardsigmoid alpha/beta, leakyrelu alpha."""
    n = x.shape[0]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    if code == RELU:
        for i in range(n):
            v = x[i]
            out[i] = v if v > zero else zero
    elif code == CLIP:
        for i in range(n):
            out[i] = min(max(x[i], p0), p1)
    elif code == HARDSIGMOID:
        for i in range(n):
            out[i] = min(max(p0 * x[i] + p1, zero), one)
    elif code == HARDSWISH:
        for i in range(n):
            v = x[i]
            out[i] = v * min(max(v + np.float32(3.0), zero), np.float32(6.0)) / np.float32(6.0)
    elif code == SIGMOID:
        for i in range(n):
            out[i] = one / (one + np.float32(math.exp(-x[i])))
    elif code == SILU:
        for i in range(n):
            v = x[i]
            out[i] = v / (one + np.float32(math.exp(-v)))
    elif code == TANH:
        for i in range(n):
            out[i] = np.float32(math.tanh(x[i]))
    elif code == GELU:
        for i in range(n):
            v = x[i]
            out[i] = np.float32(0.5) * v * (one + np.float32(math.erf(v * np.float32(0.7071067811865476))))
    elif code == EXP:
        for i in range(n):
            out[i] = np.float32(math.exp(x[i]))
    elif code == SQRT:
        for i in range(n):
            out[i] = np.sqrt(x[i])
    elif code == NEG:
        for i in range(n):
            out[i] = -x[i]
    elif code == ERF:
        for i in range(n):
            out[i] = np.float32(math.erf(x[i]))
    elif code == LEAKYRELU:
        for i in range(n):
            v = x[i]
            out[i] = v if v >= zero else v * p0
    elif code == ABS:
        for i in range(n):
            out[i] = abs(x[i])
    elif code == LOG:
        for i in range(n):
            out[i] = np.log(x[i])
    elif code == RECIPROCAL:
        for i in range(n):
            out[i] = one / x[i]
    elif code == GELU_TANH:
        c = np.float32(0.7978845608028654)
        for i in range(n):
            v = x[i]
            out[i] = np.float32(0.5) * v * (one + np.float32(math.tanh(c * (v + np.float32(0.044715) * v * v * v))))
    elif code == SOFTPLUS:
        for i in range(n):
            v = x[i]
            out[i] = v + np.float32(math.log1p(math.exp(-v))) if v > zero else np.float32(math.log1p(math.exp(v)))
    else:
        for i in range(n):
            out[i] = x[i]


@kernel(parallel=True)
def unary_parallel(x, out, code, p0, p1, nchunks):
    """unary() over `nchunks` contiguous pieces spread across threads."""
    n = x.shape[0]
    piece = (n + nchunks - 1) // nchunks
    for k in prange(nchunks):
        start = k * piece
        stop = min(start + piece, n)
        if start < stop:
            unary(x[start:stop], out[start:stop], code, p0, p1)
