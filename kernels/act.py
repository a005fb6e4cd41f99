"""Scalar activation functions shared by fused epilogues (conv/gemm) and the unary op kernels.
The code numbers are the contract between the planner (jitmnn/ops/activation_codes) and kernels."""

import math

import numpy as np

from ._jit import helper, kernel

NONE, RELU, CLIP, HARDSIGMOID, HARDSWISH, SIGMOID, SILU, TANH, GELU = range(9)
NAMES = {"": NONE, None: NONE, "relu": RELU, "clip": CLIP, "hardsigmoid": HARDSIGMOID, "hardswish": HARDSWISH,
         "sigmoid": SIGMOID, "silu": SILU, "tanh": TANH, "gelu": GELU}


@helper
def hardswish(v):
    return v * min(max(v + np.float32(3.0), np.float32(0.0)), np.float32(6.0)) * np.float32(1.0 / 6.0)


@helper
def hardsigmoid(v, alpha, beta):
    return min(max(alpha * v + beta, np.float32(0.0)), np.float32(1.0))


@helper
def apply(v, code, p0, p1):
    """Activation `code` of float32 v; p0/p1 are clip min/max or hardsigmoid alpha/beta."""
    if code == 0:
        return v
    if code == 1:
        return v if v > np.float32(0.0) else np.float32(0.0)
    if code == 2:
        return min(max(v, p0), p1)
    if code == 3:
        return hardsigmoid(v, p0, p1)
    if code == 4:
        return hardswish(v)
    if code == 5:
        return np.float32(1.0) / (np.float32(1.0) + np.float32(math.exp(-v)))
    if code == 6:
        return v / (np.float32(1.0) + np.float32(math.exp(-v)))
    if code == 7:
        return np.float32(math.tanh(v))
    # GELU (erf form, as ONNX Gelu default)
    return np.float32(0.5) * v * (np.float32(1.0) + np.float32(math.erf(v * np.float32(0.7071067811865476))))


@kernel
def apply_row(row, code, p0, p1):
    """row[:] = activation(row) in place, with the common codes spelled out so each loop vectorises (through
    apply's switch LLVM kept a scalar loop: 3x slower on hard-swish)."""
    n = row.shape[0]
    if code == RELU:
        for i in range(n):
            row[i] = max(row[i], np.float32(0.0))
    elif code == CLIP:
        for i in range(n):
            row[i] = min(max(row[i], p0), p1)
    elif code == HARDSIGMOID:
        for i in range(n):
            row[i] = hardsigmoid(row[i], p0, p1)
    elif code == HARDSWISH:
        for i in range(n):
            row[i] = hardswish(row[i])
    elif code != NONE:
        for i in range(n):
            row[i] = apply(row[i], code, p0, p1)


def numpy_apply(x, name, params=()):
    """The same activations in plain numpy (float64-safe), for references and plan-time folding."""
    if not name:
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "clip":
        return np.clip(x, params[0], params[1])
    if name == "hardsigmoid":
        return np.clip(params[0] * x + params[1], 0, 1)
    if name == "hardswish":
        return x * np.clip(x + 3, 0, 6) / 6
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "silu":
        return x / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "gelu":
        from math import erf

        return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))
    raise ValueError(f"unknown activation {name!r}")
