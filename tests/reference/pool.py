"""Pooling references: scalar loops over every output pixel and every window tap, float64 sums, any rank.
Semantics (ONNX Runtime / PyTorch): a window starts at o*stride - pad_begin; count_include_pad divides by
the window cut to the padded extent; ceil_mode drops a last window that starts in the end padding."""

import itertools
import math

import numpy as np


def _out_len(n, k, s, d, pb, pe, ceil_mode):
    ek = (k - 1) * d + 1
    if ceil_mode:
        o = math.ceil((n + pb + pe - ek) / s) + 1
        if (o - 1) * s >= n + pb:
            o -= 1
        return o
    return (n + pb + pe - ek) // s + 1


def _pads(attrs, spatial, ks, st, dl):
    nd = len(spatial)
    pads = list(attrs.get("pads") or [0] * (2 * nd))
    if attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        for i in range(nd):
            total = max(0, (math.ceil(spatial[i] / st[i]) - 1) * st[i] + (ks[i] - 1) * dl[i] + 1 - spatial[i])
            small, big = total // 2, total - total // 2
            pads[i], pads[nd + i] = (small, big) if attrs["auto_pad"] == "SAME_UPPER" else (big, small)
    return pads[:nd], pads[nd:]


def _pool(attrs, x, kind, with_indices=False):
    """Any rank: every output position, every window tap by itertools.product, float64 sums. kind is
    "max", "avg" or "lp". A tap at o*s - pad_begin + j*d counts towards count_include_pad's divisor when it
    lies before in + pad_end; its value only when it lies inside the input."""
    x = np.asarray(x, np.float64)
    spatial = x.shape[2:]
    nd = len(spatial)
    ks = list(attrs["kernel_shape"])
    st = list(attrs.get("strides") or [1] * nd)
    dl = list(attrs.get("dilations") or [1] * nd)
    pb, pe = _pads(attrs, spatial, ks, st, dl)
    ceil_mode = attrs.get("ceil_mode", 0)
    same = attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER")
    out_sp = [math.ceil(spatial[i] / st[i]) if same else
              _out_len(spatial[i], ks[i], st[i], dl[i], pb[i], pe[i], ceil_mode) for i in range(nd)]
    include = attrs.get("count_include_pad", 0)
    p = attrs.get("p", 2)
    col_major = attrs.get("storage_order", 0)
    N, C = x.shape[:2]
    out = np.zeros((N, C) + tuple(out_sp))
    idx = np.zeros((N, C) + tuple(out_sp), np.int64)
    for n, c in itertools.product(range(N), range(C)):
        for pos in itertools.product(*[range(o) for o in out_sp]):
            vals, flat, counted = [], [], 0
            for taps in itertools.product(*[range(k) for k in ks]):
                where = [pos[i] * st[i] - pb[i] + taps[i] * dl[i] for i in range(nd)]
                if all(where[i] < spatial[i] + pe[i] for i in range(nd)):
                    counted += 1
                if all(0 <= where[i] < spatial[i] for i in range(nd)):
                    vals.append(x[(n, c) + tuple(where)])
                    order = range(nd) if not col_major else reversed(range(nd))
                    f = 0
                    for i in order:
                        f = f * spatial[i] + where[i]
                    flat.append((n * C + c) * int(np.prod(spatial)) + f)
            if kind == "max":
                best = max(range(len(vals)), key=lambda t: (vals[t], -t))
                out[(n, c) + pos], idx[(n, c) + pos] = vals[best], flat[best]
            elif kind == "lp":
                out[(n, c) + pos] = math.fsum(abs(v) ** p for v in vals) ** (1 / p)
            else:
                out[(n, c) + pos] = math.fsum(vals) / (counted if include else len(vals))
    return [out, idx] if with_indices else [out]


def _global(x, fn):
    x = np.asarray(x, np.float64)
    out = np.zeros(x.shape[:2] + (1,) * (x.ndim - 2))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[n, c] = fn(x[n, c].ravel().tolist())
    return [out]


def _global_lp(attrs, x):
    p = attrs.get("p", 2)
    return _global(x[0], lambda v: math.fsum(abs(t) ** p for t in v) ** (1 / p))


REFERENCES = {
    "LpPool": lambda attrs, x: _pool(attrs, x[0], "lp"),
    # (Y, Indices): the equivalence test compares as many outputs as the case asks for.
    "MaxPool": lambda attrs, x: _pool(attrs, x[0], "max", with_indices=True),
    "AveragePool": lambda attrs, x: _pool(attrs, x[0], "avg"),
    "GlobalLpPool": _global_lp,
    "GlobalAveragePool": lambda attrs, x: _global(x[0], lambda v: math.fsum(v) / len(v)),
    "GlobalMaxPool": lambda attrs, x: _global(x[0], max),
}
