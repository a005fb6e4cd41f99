"""Reductions: ReduceMean (axes attribute, as our IR keeps it), ReduceSum / ReduceMax / ReduceMin (axes as
an attribute or, opset 13/18 style, a plan-time input), keepdims, noop_with_empty_axes.

The kernel handles one contiguous block of reduced axes (x viewed as [outer, R, inner]), which covers
every model we run; other axis sets use the numpy reference."""

from __future__ import annotations

import numpy as np

from jitmnn.kernels import norm as K

from ..errors import ShapeError
from . import _util as U
from .registry import Algorithm, OpDef, register_algorithm, register_op

_MODES = {"ReduceMean": K.MEAN, "ReduceSum": K.SUM, "ReduceMax": K.MAX, "ReduceMin": K.MIN}


def reduce_axes(node, rank, consts) -> tuple:
    axes = node.attrs.get("axes")
    if axes is None and U.has_input(node, 1):
        axes = U.const_input(consts, 1, f"{node.op} axes").reshape(-1).tolist()
    if axes is None or len(axes) == 0:
        return () if int(node.attrs.get("noop_with_empty_axes", 0)) else tuple(range(rank))
    ax = sorted({U.norm_axis(int(a), rank, "reduce axis") for a in axes})
    return tuple(ax)


def _infer(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None:
        raise ShapeError(f"{node.op} needs an input")
    axes = reduce_axes(node, len(x), consts)
    keep = int(node.attrs.get("keepdims", 1))
    out = tuple(1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes)
    return [(out, dtypes[0])]


def _reference(node, x):
    a = np.asarray(x[0])
    axes = reduce_axes(node, a.ndim, [None] + [np.asarray(v) if v is not None else None for v in x[1:]])
    keep = bool(int(node.attrs.get("keepdims", 1)))
    if not axes:
        return [a.copy()]
    fn = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}[node.op]
    src = a.astype(np.float64) if a.dtype.kind == "f" and node.op in ("ReduceMean", "ReduceSum") else a
    if a.size == 0 and node.op in ("ReduceMax", "ReduceMin"):  # ONNX: the identity of the reduction
        if a.dtype.kind == "f":
            big, small = np.inf, -np.inf
        elif a.dtype.kind == "b":
            big, small = True, False
        else:
            big, small = np.iinfo(a.dtype).max, np.iinfo(a.dtype).min
        return [np.asarray(fn(src, axis=axes, keepdims=keep, initial=small if node.op == "ReduceMax" else big)
                           ).astype(a.dtype)]
    return [np.asarray(fn(src, axis=axes, keepdims=keep)).astype(a.dtype)]


def _box(ctx):
    x = ctx.in_shapes[0]
    axes = reduce_axes(ctx.node, len(x), ctx.consts)
    if not axes or list(axes) != list(range(axes[0], axes[-1] + 1)):
        return None
    return U.numel(x[:axes[0]]), U.numel(x[axes[0]:axes[-1] + 1]), U.numel(x[axes[-1] + 1:])


def _applies(ctx):
    try:
        return U.all_f32(ctx, [0]) and _box(ctx) is not None and _box(ctx)[1] > 0
    except Exception:
        return False


def _run(packed, params, ins, outs, scratch):
    box, mode = params
    K.reduce3(ins[0].reshape(box), outs[0].reshape(box[0], box[2]), mode)


_MORE = {
    "ReduceProd": lambda v, axes, keep: np.prod(v, axis=axes, keepdims=keep),
    "ReduceL1": lambda v, axes, keep: np.sum(np.abs(v), axis=axes, keepdims=keep),
    "ReduceL2": lambda v, axes, keep: np.sqrt(np.sum(v * v, axis=axes, keepdims=keep)),
    "ReduceSumSquare": lambda v, axes, keep: np.sum(v * v, axis=axes, keepdims=keep),
    "ReduceLogSumExp": lambda v, axes, keep: _log_sum_exp(v, axes, keep),
    "ReduceLogSum": lambda v, axes, keep: np.log(np.sum(v, axis=axes, keepdims=keep)),
}


def _log_sum_exp(v, axes, keep):
    """log(sum(exp(v))) shifted by the maximum so large inputs do not overflow (an empty set gives -inf)."""
    if v.size == 0 or v.dtype.kind != "f":
        return np.log(np.sum(np.exp(v), axis=axes, keepdims=keep))
    m = np.max(v, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(v - m), axis=axes, keepdims=True)) + m
    return out if keep else np.squeeze(out, axis=axes)


def _reference_more(node, x):
    a = np.asarray(x[0])
    axes = reduce_axes(node, a.ndim, [None] + [np.asarray(v) if v is not None else None for v in x[1:]])
    if not axes:
        return [a.copy()]
    keep = bool(int(node.attrs.get("keepdims", 1)))
    src = a.astype(np.float64) if a.dtype.kind == "f" else a
    return [np.asarray(_MORE[node.op](src, axes, keep)).astype(a.dtype)]


for _op in _MORE:
    register_op(OpDef(_op, _infer, _reference_more))


# ----- ArgMax / ArgMin / CumSum: numpy reference (small tensors: class ids, positions) --------------------
def _infer_arg(node, shapes, dtypes, consts):
    x = shapes[0]
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), len(x))
    if x[axis] == 0:
        raise ShapeError(f"{node.op} over an empty axis {axis} of {tuple(x)}")
    keep = int(node.attrs.get("keepdims", 1))
    return [(tuple(1 if i == axis else d for i, d in enumerate(x) if keep or i != axis), np.int64)]


def _ref_arg(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), a.ndim)
    fn = np.argmax if node.op == "ArgMax" else np.argmin
    if int(node.attrs.get("select_last_index", 0)):
        flipped = np.flip(a, axis=axis)
        r = a.shape[axis] - 1 - fn(flipped, axis=axis)
    else:
        r = fn(a, axis=axis)
    if int(node.attrs.get("keepdims", 1)):
        r = np.expand_dims(r, axis)
    return [r.astype(np.int64)]


for _op in ("ArgMax", "ArgMin"):
    register_op(OpDef(_op, _infer_arg, _ref_arg))


def _ref_cumsum(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(np.asarray(x[1]).reshape(-1)[0]), a.ndim, "CumSum axis")
    v = np.flip(a, axis) if int(node.attrs.get("reverse", 0)) else a
    c = np.cumsum(v, axis=axis, dtype=np.float64 if a.dtype.kind == "f" else a.dtype)
    if int(node.attrs.get("exclusive", 0)):
        c = c - v
    if int(node.attrs.get("reverse", 0)):
        c = np.flip(c, axis)
    return [c.astype(a.dtype)]


def _infer_cumsum(node, shapes, dtypes, consts):
    U.norm_axis(int(U.const_input(consts, 1, "CumSum axis").reshape(-1)[0]), len(shapes[0]), "CumSum axis")
    return [(shapes[0], dtypes[0])]


register_op(OpDef("CumSum", _infer_cumsum, _ref_cumsum))


for _op, _mode in _MODES.items():
    register_op(OpDef(_op, _infer, _reference))
    register_algorithm(Algorithm(_op, "numba", run=_run, applies=_applies,
                                 setup=lambda ctx, m=_mode: (_box(ctx), m), cost=U.cost_elements,
                                 doc="[outer, R, inner] reduction of one contiguous block of axes"))
