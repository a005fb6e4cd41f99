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


REFERENCES = {
    "ReduceMean": lambda attrs, x: _reduce(attrs, x, lambda v: math.fsum(v) / len(v)),
    "ReduceSum": lambda attrs, x: _reduce(attrs, x, math.fsum),
    "ReduceMax": lambda attrs, x: _reduce(attrs, x, max),
    "ReduceMin": lambda attrs, x: _reduce(attrs, x, min),
}
