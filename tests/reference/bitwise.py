"""Bit-operation references on Python ints: shifts are done on unbounded ints, then wrapped to the type's width
(two's complement for signed types) by hand."""

import numpy as np


def _wrap(v, dtype):
    bits = dtype.itemsize * 8
    v &= (1 << bits) - 1
    if dtype.kind == "i" and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def bit_shift(attrs, x):
    a, b = np.broadcast_arrays(np.asarray(x[0]), np.asarray(x[1]))
    bits = a.dtype.itemsize * 8
    out = np.zeros(a.shape, a.dtype)
    for idx in np.ndindex(*a.shape):
        v, s = int(a[idx]), int(b[idx])
        if s < 0 or s >= bits:
            out[idx] = -1 if attrs["direction"] == "RIGHT" and v < 0 else 0
        elif attrs["direction"] == "LEFT":
            out[idx] = _wrap(v << s, a.dtype)
        else:
            out[idx] = v >> s  # Python's >> on ints is arithmetic (floor), as ONNX defines for signed types
    return [out]


def _binary(fn):
    def ref(attrs, x):
        a, b = np.broadcast_arrays(np.asarray(x[0]), np.asarray(x[1]))
        out = np.zeros(a.shape, a.dtype)
        for idx in np.ndindex(*a.shape):
            out[idx] = _wrap(fn(int(a[idx]), int(b[idx])), a.dtype)
        return [out]
    return ref


def bitwise_not(attrs, x):
    a = np.asarray(x[0])
    out = np.zeros(a.shape, a.dtype)
    for idx in np.ndindex(*a.shape):
        out[idx] = _wrap(~int(a[idx]), a.dtype)
    return [out]


REFERENCES = {
    "BitShift": bit_shift,
    "BitwiseAnd": _binary(lambda p, q: p & q),
    "BitwiseOr": _binary(lambda p, q: p | q),
    "BitwiseXor": _binary(lambda p, q: p ^ q),
    "BitwiseNot": bitwise_not,
}
