"""Reduction references: loop over kept-index combinations, reduce the selected elements in float64."""

import math

import numpy as np


def _reduce(attrs, x, fn):
    a = np.asarray(x[0], np.float64)
    axes = attrs.get("axes")
    if axes is None and len(x) > 1 and x[1] is not None:
        axes = np.asarray(x[1]).reshape(-1).tolist()
    axes = sorted({ax % a.ndim for ax in axes}) if axes else list(range(a.ndim))
    keep = attrs.get("keepdims", 1)
    kept = [i for i in range(a.ndim) if i not in axes]
    out_full = np.empty(tuple(1 if i in axes else a.shape[i] for i in range(a.ndim)))
    for idx in np.ndindex(*[a.shape[i] for i in kept]):
        sel = [slice(None)] * a.ndim
        for i, v in zip(kept, idx):
            sel[i] = v
        vals = a[tuple(sel)].ravel().tolist()
        full = [0] * a.ndim
        for i, v in zip(kept, idx):
            full[i] = v
        out_full[tuple(full)] = fn(vals)
    return [out_full if keep else out_full.reshape([a.shape[i] for i in kept])]


def _arg(attrs, x, better):
    a = np.asarray(x[0], np.float64)
    axis = attrs.get("axis", 0) % a.ndim
    last = attrs.get("select_last_index", 0)
    moved = np.moveaxis(a, axis, -1)
    out = np.zeros(moved.shape[:-1], np.int64)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = moved[idx].tolist()
        best = 0
        for i, v in enumerate(row):
            if better(v, row[best]) or (last and v == row[best]):
                best = i
        out[idx] = best
    return [np.expand_dims(out, axis) if attrs.get("keepdims", 1) else out]


def _cumsum(attrs, x):
    a = np.asarray(x[0])
    axis = int(np.asarray(x[1]).reshape(-1)[0]) % a.ndim
    moved = np.moveaxis(a.astype(np.float64), axis, -1)
    out = np.empty_like(moved)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = moved[idx].tolist()
        order = range(len(row) - 1, -1, -1) if attrs.get("reverse", 0) else range(len(row))
        acc = 0.0
        for i in order:
            if attrs.get("exclusive", 0):
                out[idx + (i,)] = acc
                acc += row[i]
            else:
                acc += row[i]
                out[idx + (i,)] = acc
    return [np.moveaxis(out, -1, axis)]


REFERENCES = {
    "ReduceProd": lambda attrs, x: _reduce(attrs, x, lambda v: math.prod(v)),
    "ReduceL1": lambda attrs, x: _reduce(attrs, x, lambda v: math.fsum(abs(t) for t in v)),
    "ReduceL2": lambda attrs, x: _reduce(attrs, x, lambda v: math.sqrt(math.fsum(t * t for t in v))),
    "ReduceSumSquare": lambda attrs, x: _reduce(attrs, x, lambda v: math.fsum(t * t for t in v)),
    "ReduceLogSumExp": lambda attrs, x: _reduce(attrs, x, lambda v: math.log(math.fsum(math.exp(t) for t in v))),
    "ReduceLogSum": lambda attrs, x: _reduce(attrs, x, lambda v: math.log(math.fsum(v))),
    "ArgMax": lambda attrs, x: _arg(attrs, x, lambda p, q: p > q),
    "ArgMin": lambda attrs, x: _arg(attrs, x, lambda p, q: p < q),
    "CumSum": _cumsum,
    "ReduceMean": lambda attrs, x: _reduce(attrs, x, lambda v: math.fsum(v) / len(v)),
    "ReduceSum": lambda attrs, x: _reduce(attrs, x, math.fsum),
    "ReduceMax": lambda attrs, x: _reduce(attrs, x, max),
    "ReduceMin": lambda attrs, x: _reduce(attrs, x, min),
}
