"""Pooling: MaxPool, AveragePool (kernel_shape, strides, pads, dilations, ceil_mode, count_include_pad,
auto_pad) and GlobalAveragePool / GlobalMaxPool. Kernels in kernels/pool.py (2-D, NCHW).

Output size follows ONNX: floor (or ceil with ceil_mode) of (in + pads - dilated kernel) / stride + 1; with
ceil_mode a last window that would start entirely in the end padding is dropped (ONNX Runtime and PyTorch)."""

from __future__ import annotations

import numpy as np

from jitmnn.kernels import pool as K

from ..errors import ShapeError
from . import _util as U
from .registry import CONVERTS, Algorithm, OpDef, register_algorithm, register_op


def pool_geometry(node, in_shape):
    """(kernel, strides, dilations, pads_begin, pads_end, out_spatial) for an N-D pool over in_shape."""
    if in_shape is None or len(in_shape) < 3:
        raise ShapeError(f"{node.op} needs an input of rank >= 3 (N, C, spatial...), got {in_shape}")
    spatial = list(in_shape[2:])
    nd = len(spatial)
    k = node.attrs.get("kernel_shape")
    if k is None or len(k) != nd:
        raise ShapeError(f"{node.op}: kernel_shape {k} does not match {nd} spatial dims of input {tuple(in_shape)}")
    k = [int(v) for v in k]
    s = [int(v) for v in node.attrs.get("strides") or [1] * nd]
    d = [int(v) for v in node.attrs.get("dilations") or [1] * nd]
    pads = [int(v) for v in node.attrs.get("pads") or [0] * (2 * nd)]
    if len(s) != nd or len(d) != nd or len(pads) != 2 * nd:
        raise ShapeError(f"{node.op}: strides {s}, dilations {d}, pads {pads} do not match {nd} spatial dims")
    if min(k + s + d) < 1 or min(pads) < 0:
        raise ShapeError(f"{node.op}: kernel/stride/dilation must be >= 1 and pads >= 0 (got {k}, {s}, {d}, {pads})")
    ceil_mode = int(node.attrs.get("ceil_mode", 0))
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    pb, pe = pads[:nd], pads[nd:]
    out = []
    for i in range(nd):
        ek = (k[i] - 1) * d[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-spatial[i] // s[i])
            total = max(0, (o - 1) * s[i] + ek - spatial[i])
            small, big = total // 2, total - total // 2
            pb[i], pe[i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        elif auto_pad == "VALID":
            pb[i] = pe[i] = 0
        span = spatial[i] + pb[i] + pe[i] - ek
        if span < 0:
            raise ShapeError(f"{node.op}: kernel {k} (dilated {ek}) is larger than the padded input "
                             f"{tuple(in_shape)} with pads {pads}")
        if ceil_mode and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-span // s[i]) + 1
            if (o - 1) * s[i] >= spatial[i] + pb[i]:
                o -= 1
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-spatial[i] // s[i])
        else:
            o = span // s[i] + 1
        out.append(o)
    return k, s, d, pb, pe, out


def _infer_pool(node, shapes, dtypes, consts):
    k, s, d, pb, pe, out = pool_geometry(node, shapes[0])
    return [(tuple(shapes[0][:2]) + tuple(out), dtypes[0])]


def _ref_pool(node, x):
    """Plain N-D loop over output positions (numpy per window); handles any rank."""
    x = np.asarray(x[0])
    k, s, d, pb, pe, out_sp = pool_geometry(node, x.shape)
    is_max = node.op == "MaxPool"
    include = int(node.attrs.get("count_include_pad", 0))
    out = np.empty(x.shape[:2] + tuple(out_sp), dtype=x.dtype)
    sp = x.shape[2:]
    for pos in np.ndindex(*out_sp):
        idx, count_pad = [], 1
        for i, o in enumerate(pos):
            start = o * s[i] - pb[i]
            taps = np.arange(k[i]) * d[i] + start
            if not is_max:
                end = min(start + k[i], sp[i] + pe[i])
                count_pad *= end - start
                taps = taps[taps < end]
            idx.append(taps[(taps >= 0) & (taps < sp[i])])
        win = x[(slice(None), slice(None)) + np.ix_(*idx)] if all(len(t) for t in idx) else None
        key = (slice(None), slice(None)) + pos
        if win is None or win.size == 0:
            out[key] = -np.inf if is_max else 0
        elif is_max:
            out[key] = win.reshape(x.shape[:2] + (-1,)).max(-1)
        else:
            total = win.reshape(x.shape[:2] + (-1,)).astype(np.float64).sum(-1)
            out[key] = total / (count_pad if include else win[0, 0].size)
    return [out]


def _setup_pool(ctx):
    k, s, d, pb, pe, out = pool_geometry(ctx.node, ctx.in_shapes[0])
    mode = K.MAX if ctx.node.op == "MaxPool" else K.AVG
    return k, s, d, pb, pe, mode, bool(ctx.attr("count_include_pad", 0))


def _applies_pool(ctx):
    if not U.all_f32(ctx, [0]) or len(ctx.in_shapes[0]) != 4 or len(ctx.out_dtypes) != 1:
        return False
    d = ctx.attr("dilations") or [1, 1]
    return ctx.node.op == "MaxPool" or all(v == 1 for v in d)


def _run_pool(packed, params, ins, outs, scratch):
    k, s, d, pb, pe, mode, include = params
    x = ins[0]
    n, c, h, w = x.shape
    o = outs[0]
    tmp = scratch[:K.scratch_floats(w, s[1], o.shape[3]) * 4].view(np.float32)
    K.pool2d(x.reshape(n * c, h, w), o.reshape(n * c, o.shape[2], o.shape[3]), tmp, k[0], k[1], s[0], s[1],
             pb[0], pb[1], pe[0], pe[1], d[0], d[1], mode, include)


def _cost_pool(ctx):
    k = ctx.attr("kernel_shape") or [1, 1]
    return U.numel(ctx.out_shapes[0]) * int(np.prod(k)) * 0.5 / 1e3 + U.cost_elements(ctx)


for _op in ("MaxPool", "AveragePool"):
    register_op(OpDef(_op, _infer_pool, _ref_pool))
    register_algorithm(Algorithm(_op, "numba", run=_run_pool, applies=_applies_pool, setup=_setup_pool,
                                 scratch_bytes=lambda ctx: 4 * K.scratch_floats(
                                     int(ctx.in_shapes[0][-1]), _setup_pool(ctx)[1][1], int(ctx.out_shapes[0][-1])),
                                 cost=_cost_pool, fp16=CONVERTS,
                                 doc="separable: rows reduced into a scratch row, split by column phase, "
                                     "then contiguous per-tap column passes"))


# ----- global pools ----------------------------------------------------------------------------------
def _infer_global(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None or len(x) < 3:
        raise ShapeError(f"{node.op} needs an input of rank >= 3 (N, C, spatial...), got {x}")
    return [(tuple(x[:2]) + (1,) * (len(x) - 2), dtypes[0])]


def _ref_global(node, x):
    a = np.asarray(x[0])
    axes = tuple(range(2, a.ndim))
    r = a.max(axis=axes, keepdims=True) if node.op == "GlobalMaxPool" else a.mean(axis=axes, keepdims=True)
    return [r.astype(a.dtype)]


def _run_global(packed, params, ins, outs, scratch):
    x = ins[0]
    p = x.shape[0] * x.shape[1]
    K.global_pool(x.reshape(p, -1), outs[0].reshape(-1), params)


for _op, _mode in (("GlobalAveragePool", K.AVG), ("GlobalMaxPool", K.MAX)):
    register_op(OpDef(_op, _infer_global, _ref_global))
    register_algorithm(Algorithm(_op, "numba", run=_run_global, applies=lambda ctx: U.all_f32(ctx, [0]),
                                 setup=lambda ctx, m=_mode: m, cost=U.cost_elements, fp16=CONVERTS,
                                 doc="one pass per channel plane"))



def _ref_lppool(node, x):
    """(sum over the window of |x|^p)^(1/p); padding contributes zeros."""
    a = np.asarray(x[0])
    k, s, d, pb, pe, out_sp = pool_geometry(node, a.shape)
    p = float(node.attrs.get("p", 2))
    out = np.empty(a.shape[:2] + tuple(out_sp), dtype=np.float64)
    for pos in np.ndindex(*out_sp):
        idx = []
        for i, o in enumerate(pos):
            taps = np.arange(k[i]) * d[i] + o * s[i] - pb[i]
            idx.append(taps[(taps >= 0) & (taps < a.shape[2 + i])])
        win = np.abs(a[(slice(None), slice(None)) + np.ix_(*idx)].astype(np.float64)) ** p
        out[(slice(None), slice(None)) + pos] = win.reshape(a.shape[:2] + (-1,)).sum(-1) ** (1 / p)
    return [out.astype(a.dtype)]


register_op(OpDef("LpPool", _infer_pool, _ref_lppool))
