"""Broadcast binary references: an explicit index loop over the output, each operand read through its own
broadcast index (size-1 dims pinned to 0), in float64 -- independent of numpy's broadcasting machinery."""

import math

import numpy as np


def _broadcast_loop(a, b, fn):
    a, b = np.asarray(a), np.asarray(b)
    rank = max(a.ndim, b.ndim)
    sa = (1,) * (rank - a.ndim) + a.shape
    sb = (1,) * (rank - b.ndim) + b.shape
    out_shape = tuple(max(x, y) for x, y in zip(sa, sb))
    ar, br = a.reshape(sa), b.reshape(sb)
    out = np.empty(out_shape, np.float64 if a.dtype.kind == "f" else a.dtype)
    for idx in np.ndindex(*out_shape):
        ia = tuple(0 if d == 1 else i for d, i in zip(sa, idx))
        ib = tuple(0 if d == 1 else i for d, i in zip(sb, idx))
        out[idx] = fn(ar[ia].item(), br[ib].item())
    return out


def _fold(xs, fn):
    """Variadic Max/Min: pairwise over the inputs in order."""
    out = np.asarray(xs[0], np.float64 if np.asarray(xs[0]).dtype.kind == "f" else None)
    for v in xs[1:]:
        out = _broadcast_loop(out, v, fn)
    return out


def _trunc_div(x, y):
    if isinstance(x, int) and isinstance(y, int):
        q = abs(x) // abs(y)
        return -q if (x < 0) != (y < 0) else q
    return x / y


def _activation(attrs, y):
    """A fused activation attribute, written out from its definition."""
    name, p = attrs.get("activation"), list(attrs.get("activation_params", [0, 0]))
    if not name:
        return y
    if name == "relu":
        return np.where(y > 0, y, 0.0)
    if name == "clip":
        return np.minimum(np.maximum(y, p[0]), p[1])
    if name == "sigmoid":
        return 1 / (1 + np.exp(-y))
    raise NotImplementedError(name)


def _bin(fn):
    return lambda attrs, x: [_activation(attrs, _broadcast_loop(x[0], x[1], fn))]


REFERENCES = {
    "Add": _bin(lambda p, q: p + q),
    "Sub": _bin(lambda p, q: p - q),
    "Mul": _bin(lambda p, q: p * q),
    "Div": _bin(_trunc_div),
    "Pow": _bin(lambda p, q: float(p) ** float(q) if p >= 0 or float(q).is_integer() else float("nan")),
    "Sum": lambda attrs, x: [_fold(x, lambda p, q: p + q)],
    "Mean": lambda attrs, x: [_fold(x, lambda p, q: p + q) / len(x)],
    "Max": lambda attrs, x: [_fold(x, max)],
    "Min": lambda attrs, x: [_fold(x, min)],
    "PRelu": _bin(lambda p, q: p if p >= 0 else p * q),
    "Mod": lambda attrs, x: [_broadcast_loop(x[0], x[1], (lambda p, q: math.fmod(p, q)) if attrs.get("fmod", 0)
                                             else (lambda p, q: p % q)).astype(np.asarray(x[0]).dtype)],
    "Equal": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: p == q).astype(bool)],
    "Less": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: p < q).astype(bool)],
    "Greater": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: p > q).astype(bool)],
    "LessOrEqual": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: p <= q).astype(bool)],
    "GreaterOrEqual": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: p >= q).astype(bool)],
    "And": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: bool(p and q)).astype(bool)],
    "Or": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: bool(p or q)).astype(bool)],
    "Xor": lambda attrs, x: [_broadcast_loop(x[0], x[1], lambda p, q: bool(p) != bool(q)).astype(bool)],
    "Not": lambda attrs, x: [~np.asarray(x[0], bool)],
    "Where": lambda attrs, x: [np.where(np.asarray(x[0], bool), x[1], x[2])],
}
