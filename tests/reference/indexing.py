"""Indexing references: element-by-element loops over index tuples, written from the ONNX op descriptions
(not from jitmnn/ops/indexing.py)."""

import numpy as np


def _wrap(i, n):
    i = int(i)
    i = i + n if i < 0 else i
    assert 0 <= i < n, f"index {i} out of range {n}"
    return i


def _combine(reduction, old, new):
    if reduction == "add":
        return old + new
    if reduction == "mul":
        return old * new
    if reduction == "max":
        return max(old, new)
    if reduction == "min":
        return min(old, new)
    return new


def _scatter_elements(attrs, x):
    data, idx, upd = np.asarray(x[0]), np.asarray(x[1]), np.asarray(x[2])
    axis = attrs.get("axis", 0) % data.ndim
    out = data.astype(np.float64).copy()
    for pos in np.ndindex(*idx.shape):
        target = list(pos)
        target[axis] = _wrap(idx[pos], data.shape[axis])
        out[tuple(target)] = _combine(attrs.get("reduction", "none"), out[tuple(target)], float(upd[pos]))
    return [out]


def _scatter_nd(attrs, x):
    data, idx, upd = np.asarray(x[0]), np.asarray(x[1]), np.asarray(x[2])
    k = idx.shape[-1]
    out = data.astype(np.float64).copy()
    for pos in np.ndindex(*idx.shape[:-1]):
        head = tuple(_wrap(idx[pos + (j,)], data.shape[j]) for j in range(k))
        for tail in np.ndindex(*data.shape[k:]):
            out[head + tail] = _combine(attrs.get("reduction", "none"), out[head + tail], float(upd[pos + tail]))
    return [out]


def _gather_nd(attrs, x):
    data, idx = np.asarray(x[0]), np.asarray(x[1])
    b = attrs.get("batch_dims", 0)
    k = idx.shape[-1]
    out = np.zeros(idx.shape[:-1] + data.shape[b + k:], np.float64)
    for pos in np.ndindex(*idx.shape[:-1]):
        head = pos[:b] + tuple(_wrap(idx[pos + (j,)], data.shape[b + j]) for j in range(k))
        for tail in np.ndindex(*data.shape[b + k:]):
            out[pos + tail] = data[head + tail]
    return [out]


def _topk(attrs, x):
    a = np.asarray(x[0], np.float64)
    k = int(np.asarray(x[1]).reshape(-1)[0])
    axis = attrs.get("axis", -1) % a.ndim
    largest = attrs.get("largest", 1)
    moved = np.moveaxis(a, axis, -1)
    vals = np.zeros(moved.shape[:-1] + (k,))
    inds = np.zeros(moved.shape[:-1] + (k,), np.int64)
    for pos in np.ndindex(*moved.shape[:-1]):
        row = moved[pos].tolist()
        order = sorted(range(len(row)), key=lambda i: (-row[i] if largest else row[i], i))[:k]
        for j, i in enumerate(order):
            vals[pos + (j,)] = row[i]
            inds[pos + (j,)] = i
    return [np.moveaxis(vals, -1, axis), np.moveaxis(inds, -1, axis)]


def _onehot(attrs, x):
    ind = np.asarray(x[0])
    depth = int(np.asarray(x[1]).reshape(-1)[0])
    off, on = (float(v) for v in np.asarray(x[2], np.float64).reshape(-1))
    axis = attrs.get("axis", -1)
    axis = axis + ind.ndim + 1 if axis < 0 else axis
    shape = ind.shape[:axis] + (depth,) + ind.shape[axis:]
    out = np.full(shape, off)
    for pos in np.ndindex(*ind.shape):
        i = int(ind[pos])
        if i < 0:
            i += depth
        if 0 <= i < depth:
            out[pos[:axis] + (i,) + pos[axis:]] = on
    return [out]


def _reverse_sequence(attrs, x):
    a = np.asarray(x[0])
    lens = np.asarray(x[1]).reshape(-1)
    t_ax, b_ax = attrs.get("time_axis", 0), attrs.get("batch_axis", 1)
    out = a.copy()
    for pos in np.ndindex(*a.shape):
        t, b = pos[t_ax], pos[b_ax]
        if t < lens[b]:
            src = list(pos)
            src[t_ax] = lens[b] - 1 - t
            out[pos] = a[tuple(src)]
    return [out]


def _center_crop_pad(attrs, x):
    a = np.asarray(x[0])
    target = [int(v) for v in np.asarray(x[1]).reshape(-1)]
    axes = attrs.get("axes", list(range(a.ndim)))
    shape = list(a.shape)
    for ax, s in zip(axes, target):
        shape[ax % a.ndim] = s
    out = np.zeros(shape, np.float64)
    for pos in np.ndindex(*shape):
        # output position p holds input position p + (n - m) // 2 when cropping, p - (m - n) // 2 when padding
        src = []
        for p, n, m in zip(pos, a.shape, shape):
            src.append(p + (n - m) // 2 if m <= n else p - (m - n) // 2)
        if all(0 <= s < n for s, n in zip(src, a.shape)):
            out[pos] = a[tuple(src)]
    return [out]


def _compress(attrs, x):
    a = np.asarray(x[0])
    cond = [bool(c) for c in np.asarray(x[1]).reshape(-1)]
    if "axis" not in attrs:
        flat = a.reshape(-1).tolist()
        return [np.array([v for i, v in enumerate(flat) if i < len(cond) and cond[i]])]
    axis = attrs["axis"] % a.ndim
    keep = [i for i in range(a.shape[axis]) if i < len(cond) and cond[i]]
    return [np.stack([np.take(a, i, axis=axis) for i in keep], axis=axis)]


def _unique(attrs, x):
    a = np.asarray(x[0])
    axis = attrs.get("axis")
    if axis is None:
        items = [(float(v),) for v in a.reshape(-1)]
    else:
        axis %= a.ndim
        items = [tuple(np.take(a, i, axis=axis).reshape(-1).tolist()) for i in range(a.shape[axis])]
    first = {}
    for i, it in enumerate(items):
        first.setdefault(it, i)
    keys = sorted(first) if attrs.get("sorted", 1) else list(first)  # dicts keep insertion order
    pos = {k: j for j, k in enumerate(keys)}
    idx = [first[k] for k in keys]
    y = a.reshape(-1)[idx] if axis is None else np.take(a, idx, axis=axis)
    inverse = [pos[it] for it in items]
    counts = [sum(1 for it in items if it == k) for k in keys]
    return [y, np.array(idx), np.array(inverse), np.array(counts)]


REFERENCES = {
    "ScatterElements": _scatter_elements,
    "Scatter": _scatter_elements,
    "ScatterND": _scatter_nd,
    "GatherND": _gather_nd,
    "TopK": _topk,
    "OneHot": _onehot,
    "ReverseSequence": _reverse_sequence,
    "CenterCropPad": _center_crop_pad,
    "Compress": _compress,
    "Unique": _unique,
}
