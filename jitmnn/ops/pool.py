"""Pooling: MaxPool (with its optional Indices output), AveragePool, LpPool (kernel_shape, strides, pads,
dilations, ceil_mode, count_include_pad, auto_pad, storage_order, p) and GlobalAveragePool / GlobalMaxPool /
GlobalLpPool. Kernels in kernels/pool.py (2-D NCHW; a 1-D pool runs as 2-D with height 1); 3-D pools,
LpPool and MaxPool with Indices run the N-D numpy reference.

Output size follows ONNX: floor (or ceil with ceil_mode) of (in + pads - dilated kernel) / stride + 1; with
ceil_mode a last window that would start entirely in the end padding is dropped (ONNX Runtime and PyTorch)."""

from __future__ import annotations

from dataclasses import dataclass

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
    y = (tuple(shapes[0][:2]) + tuple(out), dtypes[0])
    if node.op == "MaxPool" and len(node.outputs) > 1 and node.outputs[1]:
        return [y, (y[0], np.dtype(np.int64))]  # Indices
    return [y]


def window_taps(node, in_shape):
    """Per spatial dim and output position: (input positions inside the image, taps counted by
    count_include_pad). A tap sits at o*stride - pad_begin + j*dilation; count_include_pad counts the taps
    inside the padded extent [-pad_begin, in + pad_end), not those a ceil_mode window hangs past it."""
    k, s, d, pb, pe, out_sp = pool_geometry(node, in_shape)
    per_dim = []
    for i, n_out in enumerate(out_sp):
        n_in = int(in_shape[2 + i])
        rows = []
        for o in range(n_out):
            taps = o * s[i] - pb[i] + d[i] * np.arange(k[i])
            rows.append((taps[(taps >= 0) & (taps < n_in)], int(np.count_nonzero(taps < n_in + pe[i]))))
        per_dim.append(rows)
    return out_sp, per_dim


def _ref_pool(node, x):
    """N-D loop over output positions, numpy per window. MaxPool's optional Indices output holds the
    flat index of the (first) maximum in the whole input, row-major, or column-major over the spatial
    dims with storage_order=1."""
    x = np.asarray(x[0])
    out_sp, per_dim = window_taps(node, x.shape)
    op = node.op
    include = int(node.attrs.get("count_include_pad", 0))
    p = float(node.attrs.get("p", 2))
    nc = x.shape[:2]
    out = np.empty(nc + tuple(out_sp), dtype=x.dtype if op != "LpPool" else np.float64)
    want_idx = op == "MaxPool" and len(node.outputs) > 1 and bool(node.outputs[1])
    idx_out = np.full(nc + tuple(out_sp), -1, np.int64) if want_idx else None
    sp = x.shape[2:]
    plane = int(np.prod(sp, dtype=np.int64))
    if int(node.attrs.get("storage_order", 0)):  # column-major: the first spatial dim varies fastest
        sp_strides = np.cumprod((1,) + sp[:-1])
    else:
        sp_strides = np.array(U.contiguous_strides(sp), np.int64)
    base = (np.arange(nc[0])[:, None] * nc[1] + np.arange(nc[1])[None, :]) * plane
    lowest = np.finfo(x.dtype).min if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    for pos in np.ndindex(*out_sp):
        cols = [per_dim[i][o][0] for i, o in enumerate(pos)]
        key = (slice(None), slice(None)) + pos
        if not all(len(c) for c in cols):  # the window lies entirely in the padding
            out[key] = lowest if op == "MaxPool" else 0
            continue
        win = x[(slice(None), slice(None)) + np.ix_(*cols)].reshape(nc + (-1,))
        if op == "MaxPool":
            arg = np.argmax(win, axis=-1)
            out[key] = np.take_along_axis(win, arg[..., None], -1)[..., 0]
            if want_idx:
                offs = sum(np.asarray(g, np.int64) * st for g, st in
                           zip(np.meshgrid(*cols, indexing="ij"), sp_strides)).reshape(-1)
                idx_out[key] = base + offs[arg]
        elif op == "LpPool":
            out[key] = (np.abs(win.astype(np.float64)) ** p).sum(-1) ** (1 / p)
        else:
            count = int(np.prod([per_dim[i][o][1] for i, o in enumerate(pos)])) if include else win.shape[-1]
            out[key] = win.astype(np.float64).sum(-1) / count
    res = [out.astype(x.dtype)]
    return res + [idx_out] if want_idx else res


@dataclass(frozen=True)
class PoolParams:
    """2-D window geometry as [h, w] lists (pads split into begin and end), kernel mode, count_include_pad."""

    kernel: list[int]
    strides: list[int]
    dilations: list[int]
    pads_begin: list[int]
    pads_end: list[int]
    mode: int  # K.MAX or K.AVG
    count_include_pad: bool


def _setup_pool(ctx):
    """2-D parameters; a 1-D pool runs as a 2-D one over a height-1 image."""
    k, s, d, pb, pe, out = pool_geometry(ctx.node, ctx.in_shapes[0])
    if len(k) == 1:
        k, s, d, pb, pe = [1] + k, [1] + s, [1] + d, [0] + pb, [0] + pe
    mode = K.MAX if ctx.node.op == "MaxPool" else K.AVG
    return PoolParams(k, s, d, pb, pe, mode, bool(ctx.attr("count_include_pad", 0)))


def _applies_pool(ctx):
    return U.all_f32(ctx, [0]) and len(ctx.in_shapes[0]) in (3, 4) and len(ctx.out_dtypes) == 1


def _run_pool(packed, params: PoolParams, ins, outs, scratch):
    k, s, d, pb, pe = params.kernel, params.strides, params.dilations, params.pads_begin, params.pads_end
    x = ins[0]
    n, c, w = x.shape[0], x.shape[1], x.shape[-1]
    h = x.shape[2] if x.ndim == 4 else 1
    o = outs[0]
    oh, ow = (o.shape[2] if o.ndim == 4 else 1), o.shape[-1]
    tmp = scratch[:K.scratch_floats(w, s[1], ow) * 4].view(np.float32)
    K.pool2d(x.reshape(n * c, h, w), o.reshape(n * c, oh, ow), tmp, k[0], k[1], s[0], s[1],
             pb[0], pb[1], pe[0], pe[1], d[0], d[1], params.mode, params.count_include_pad)


def _cost_pool(ctx):
    k = ctx.attr("kernel_shape") or [1, 1]
    return U.numel(ctx.out_shapes[0]) * int(np.prod(k)) * 0.5 / 1e3 + U.cost_elements(ctx)


for _op in ("MaxPool", "AveragePool"):
    register_op(OpDef(_op, _infer_pool, _ref_pool))
    register_algorithm(Algorithm(_op, "numba", run=_run_pool, applies=_applies_pool, setup=_setup_pool,
                                 scratch_bytes=lambda ctx: 4 * K.scratch_floats(
                                     int(ctx.in_shapes[0][-1]), _setup_pool(ctx).strides[1],
                                     int(ctx.out_shapes[0][-1])),
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


register_op(OpDef("LpPool", _infer_pool, _ref_pool))


def _ref_global_lp(node, x):
    """(sum over the spatial dims of |x|^p)^(1/p), p defaulting to 2."""
    a = np.asarray(x[0])
    p = float(node.attrs.get("p", 2))
    r = (np.abs(a.astype(np.float64)) ** p).sum(axis=tuple(range(2, a.ndim)), keepdims=True) ** (1 / p)
    return [r.astype(a.dtype)]


register_op(OpDef("GlobalLpPool", _infer_global, _ref_global_lp))
