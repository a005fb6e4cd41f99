"""Softmax references: per 1-D slice along the axis, math.exp in float64 with the max subtracted."""

import math

import numpy as np


def _softmax(attrs, x, log):
    a = np.asarray(x[0], np.float64)
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
