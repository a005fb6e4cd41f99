"""Softmax references: per 1-D slice along the axis, math.exp in float64 with the max subtracted."""

import math

import numpy as np


def _coerced(attrs, a):
    """Opset < 13 (`coerce_2d`): [dims before axis, dims from axis on] as a 2-D array, normalised over axis 1."""
    axis = attrs.get("axis", -1) % a.ndim
    return a.reshape(int(np.prod(a.shape[:axis])), -1)


def _softmax(attrs, x, log):
    a = np.asarray(x[0], np.float64)
    if attrs.get("coerce_2d"):
        return [_softmax({"axis": 1}, [_coerced(attrs, a)], log)[0].reshape(a.shape)]
    axis = attrs.get("axis", -1) % a.ndim
    moved = np.moveaxis(a, axis, -1)
    out = np.empty_like(moved)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = moved[idx].tolist()
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = math.fsum(e)
        out[idx] = [(v - m) - math.log(s) for v in row] if log else [v / s for v in e]
    return [np.moveaxis(out, -1, axis)]


def _hardmax(attrs, x):
    a = np.asarray(x[0])
    if attrs.get("coerce_2d"):
        return [_hardmax({"axis": 1}, [_coerced(attrs, a)])[0].reshape(a.shape)]
    axis = attrs.get("axis", -1) % a.ndim
    moved = np.moveaxis(a, axis, -1)
    out = np.zeros_like(moved)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = moved[idx].tolist()
        out[idx + (row.index(max(row)),)] = 1
    return [np.moveaxis(out, -1, axis)]


REFERENCES = {
    "Hardmax": _hardmax,
    "Softmax": lambda attrs, x: _softmax(attrs, x, False),
    "LogSoftmax": lambda attrs, x: _softmax(attrs, x, True),
}
