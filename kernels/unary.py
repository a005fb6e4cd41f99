"""Elementwise activations and math functions over flat float32 buffers (the caller passes contiguous views;
x and out may each store fp16 as uint16 bits, see half.py).

The op code selects a loop (the branch sits outside the loop, so each loop vectorises). Three kernels
with one signature each, so a model compiles only the group it uses (cold compile grows with the number
of vectorised loops): unary_basic (piecewise-linear CNN activations), unary (transcendental), unary_more
(rare ops), unary_trig (inverse trigonometric and hyperbolic functions). Codes 0-8 are kernels/act.py's
activation codes; the rest extend them."""

import math

import llvmlite.ir as lir
import numpy as np
from numba import prange, types
from numba.extending import intrinsic

from . import act
from ._jit import helper, kernel
from .half import load, store

IDENTITY, RELU, CLIP, HARDSIGMOID, HARDSWISH, SIGMOID, SILU, TANH, GELU = (
    act.NONE, act.RELU, act.CLIP, act.HARDSIGMOID, act.HARDSWISH, act.SIGMOID, act.SILU, act.TANH, act.GELU)
EXP, SQRT, NEG, ERF, LEAKYRELU, ABS, LOG, RECIPROCAL, GELU_TANH, SOFTPLUS = range(9, 19)
# Codes of unary_more: ops no target model uses, kept out of `unary` so its compile stays small.
FLOOR, CEIL, ROUND, SIGN, SIN, COS, SOFTSIGN, MISH, ELU, SELU, CELU, THRESHOLDEDRELU, SHRINK, SWISH = range(100, 114)
# Codes of unary_trig.
TAN, ASIN, ACOS, ATAN, SINH, COSH, ASINH, ACOSH, ATANH = range(200, 209)


_EXP_LO, _EXP_HI = -87.0, 88.0  # exp() stays a normal float32 in between


@intrinsic
def bits_to_float32(typingctx, bits):
    """Reinterpret int32 bits as a float32 (one LLVM bitcast; Numba has no scalar bitcast)."""
    if not isinstance(bits, types.Integer) or bits.bitwidth != 32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], lir.FloatType())

    return types.float32(bits), codegen


@helper
def fast_exp(v):
    """exp(v) for float32 v, branch-free so loops calling it vectorise (scalar math.exp is ~8 ns per
    element here without SVML; loops of this run at numpy's speed). Cody-Waite: exp(v) = 2^k * p(r),
    k = round(v / ln2), |r| <= ln2/2, p = degree-7 Taylor (truncation < 6e-9 relative; measured max
    1.7e-7 relative over [-80, 80]); 2^k is built from its float bits. v is clamped to [-87, 88]:
    results below 1.6e-38 flush to that value, which softmax and sigmoid cannot tell from 0, and large
    results stay finite (Exp itself keeps math.exp for exact overflow/underflow)."""
    v = min(max(v, np.float32(_EXP_LO)), np.float32(_EXP_HI))
    # k + 128 = floor(t + 0.5) + 128 by truncating a positive number: fptosi vectorises, floor does not
    kb = np.int32(v * np.float32(1.4426950408889634) + np.float32(128.5))
    k = np.float32(kb - np.int32(128))
    r = v - k * np.float32(0.693145751953125) - k * np.float32(1.428606765330187e-06)
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    return p * bits_to_float32(np.int32((kb - np.int32(1)) << np.int32(23)))


@helper
def exp_row(x, out, sign, shift):
    """out[i] = fast_exp(sign * x[i] - shift) over 1-D x/out (may run in place)."""
    for i in range(x.shape[0]):
        out[i] = fast_exp(sign * x[i] - shift)


BASIC = (IDENTITY, RELU, CLIP, HARDSIGMOID, HARDSWISH, NEG, LEAKYRELU, ABS)


@kernel
def unary_basic(x, out, code, p0, p1):
    """The cheap piecewise-linear activations of CNNs (ReLU, Clip/ReLU6, HardSigmoid, HardSwish, ...):
    a kernel of their own so ResNet/MobileNet compile 8 small loops, not every transcendental one."""
    n = x.shape[0]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    if code == RELU:
        for i in range(n):
            v = load(x, i)
            store(out, i, max(v, zero))
    elif code == CLIP:
        for i in range(n):
            store(out, i, min(max(load(x, i), p0), p1))
    elif code == HARDSIGMOID:
        for i in range(n):
            store(out, i, min(max(p0 * load(x, i) + p1, zero), one))
    elif code == HARDSWISH:
        for i in range(n):
            v = load(x, i)
            store(out, i, v * min(max(v + np.float32(3.0), zero), np.float32(6.0)) / np.float32(6.0))
    elif code == NEG:
        for i in range(n):
            store(out, i, -load(x, i))
    elif code == LEAKYRELU:
        for i in range(n):
            v = load(x, i)
            store(out, i, v if v >= zero else v * p0)
    elif code == ABS:
        for i in range(n):
            store(out, i, abs(load(x, i)))
    else:
        for i in range(n):
            store(out, i, load(x, i))


@kernel
def unary(x, out, code, p0, p1):
    """Transcendental unary ops (sigmoid, tanh, exp, erf, gelu, ...): out = f_code(x)."""
    n = x.shape[0]
    one = np.float32(1.0)
    zero = np.float32(0.0)
    if code == SIGMOID:
        for i in range(n):
            store(out, i, one / (one + fast_exp(-load(x, i))))
    elif code == SILU:
        for i in range(n):
            v = load(x, i)
            store(out, i, v / (one + fast_exp(-v)))
    elif code == TANH:
        # tanh(x) = (1 - e^-2x) / (1 + e^-2x); absolute error ~1e-7 near 0 from the cancellation. |x| is
        # clamped at 9 (tanh is +-1 in fp32 there): -inf went through fast_exp's overflow and came out as -0.
        # min/max, as in fast_exp, let a NaN through (branches on comparisons lost it under fastmath).
        lim = np.float32(9.0)
        for i in range(n):
            v = min(max(load(x, i), -lim), lim)
            e = fast_exp(np.float32(-2.0) * v)
            store(out, i, (one - e) / (one + e))
    elif code == GELU:
        for i in range(n):
            v = load(x, i)
            store(out, i, np.float32(0.5) * v * (one + np.float32(math.erf(v * np.float32(0.7071067811865476)))))
    elif code == EXP:
        for i in range(n):  # exp_row clamps; Exp itself must overflow to inf and underflow to 0
            store(out, i, np.float32(math.exp(load(x, i))))
    elif code == SQRT:
        for i in range(n):
            store(out, i, np.sqrt(load(x, i)))
    elif code == ERF:
        for i in range(n):
            store(out, i, np.float32(math.erf(load(x, i))))
    elif code == LOG:
        for i in range(n):
            store(out, i, np.log(load(x, i)))
    elif code == RECIPROCAL:
        for i in range(n):
            store(out, i, one / load(x, i))
    elif code == GELU_TANH:
        c = np.float32(0.7978845608028654)
        for i in range(n):
            v = load(x, i)
            t = np.float32(math.tanh(c * (v + np.float32(0.044715) * v * v * v)))
            store(out, i, np.float32(0.5) * v * (one + t))
    elif code == SOFTPLUS:
        for i in range(n):
            v = load(x, i)
            store(out, i, v + np.float32(math.log1p(math.exp(-v))) if v > zero else np.float32(math.log1p(math.exp(v))))
    else:
        for i in range(n):
            store(out, i, load(x, i))


@kernel
def unary_more(x, out, code, p0, p1):
    """Less common unary ops; p0/p1: Elu/Celu/ThresholdedRelu/Swish alpha, Selu alpha/gamma, Shrink lambd/bias."""
    n = x.shape[0]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    if code == FLOOR:
        for i in range(n):
            store(out, i, np.floor(load(x, i)))
    elif code == CEIL:
        for i in range(n):
            store(out, i, np.ceil(load(x, i)))
    elif code == ROUND:  # half to even, as ONNX Round
        for i in range(n):
            store(out, i, np.rint(load(x, i)))
    elif code == SIGN:
        for i in range(n):
            v = load(x, i)
            store(out, i, one if v > zero else (-one if v < zero else zero))
    elif code == SIN:
        for i in range(n):
            store(out, i, np.float32(math.sin(load(x, i))))
    elif code == COS:
        for i in range(n):
            store(out, i, np.float32(math.cos(load(x, i))))
    elif code == SOFTSIGN:
        for i in range(n):
            store(out, i, load(x, i) / (one + abs(load(x, i))))
    elif code == MISH:  # x * tanh(softplus(x))
        for i in range(n):
            v = load(x, i)
            sp = v + np.float32(math.log1p(math.exp(-v))) if v > zero else np.float32(math.log1p(math.exp(v)))
            store(out, i, v * np.float32(math.tanh(sp)))
    elif code == ELU:
        for i in range(n):
            v = load(x, i)
            store(out, i, v if v >= zero else p0 * (np.float32(math.exp(v)) - one))
    elif code == SELU:
        for i in range(n):
            v = load(x, i)
            store(out, i, p1 * v if v > zero else p1 * p0 * (np.float32(math.exp(v)) - one))
    elif code == CELU:  # max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
        for i in range(n):
            v = load(x, i)
            store(out, i, v if v > zero else p0 * np.expm1(v / p0))
    elif code == THRESHOLDEDRELU:
        for i in range(n):
            v = load(x, i)
            store(out, i, v if v > p0 else zero)
    elif code == SHRINK:  # p0 = lambd, p1 = bias
        for i in range(n):
            v = load(x, i)
            store(out, i, v - p1 if v > p0 else (v + p1 if v < -p0 else zero))
    elif code == SWISH:  # x * sigmoid(alpha * x)
        for i in range(n):
            v = load(x, i)
            store(out, i, v / (one + fast_exp(-p0 * v)))
    else:
        for i in range(n):
            store(out, i, load(x, i))


@kernel
def unary_trig(x, out, code, p0, p1):
    """Trigonometric and hyperbolic functions (float32 libm calls per element; p0/p1 unused)."""
    n = x.shape[0]
    if code == TAN:
        for i in range(n):
            store(out, i, np.tan(load(x, i)))
    elif code == ASIN:
        for i in range(n):
            store(out, i, np.arcsin(load(x, i)))
    elif code == ACOS:
        for i in range(n):
            store(out, i, np.arccos(load(x, i)))
    elif code == ATAN:
        for i in range(n):
            store(out, i, np.arctan(load(x, i)))
    elif code == SINH:
        for i in range(n):
            store(out, i, np.sinh(load(x, i)))
    elif code == COSH:
        for i in range(n):
            store(out, i, np.cosh(load(x, i)))
    elif code == ASINH:
        for i in range(n):
            store(out, i, np.arcsinh(load(x, i)))
    elif code == ACOSH:
        for i in range(n):
            store(out, i, np.arccosh(load(x, i)))
    elif code == ATANH:
        for i in range(n):
            store(out, i, np.arctanh(load(x, i)))
    else:
        for i in range(n):
            store(out, i, load(x, i))


@kernel(parallel=True)
def unary_parallel(x, out, code, p0, p1, nchunks):
    """unary() over `nchunks` contiguous pieces spread across threads."""
    n = x.shape[0]
    piece = (n + nchunks - 1) // nchunks
    for k in prange(nchunks):
        start = k * piece
        stop = min(start + piece, n)
        if start < stop:
            if code in BASIC:
                unary_basic(x[start:stop], out[start:stop], code, p0, p1)
            else:
                unary(x[start:stop], out[start:stop], code, p0, p1)
