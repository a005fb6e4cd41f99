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
    if node.op in ("ReduceMax", "ReduceMin") and any(x[a] == 0 for a in axes):
        raise ShapeError(f"{node.op} over an empty axis of {tuple(x)}")
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


for _op, _mode in _MODES.items():
    register_op(OpDef(_op, _infer, _reference))
    register_algorithm(Algorithm(_op, "numba", run=_run, applies=_applies,
                                 setup=lambda ctx, m=_mode: (_box(ctx), m), cost=U.cost_elements,
                                 doc="[outer, R, inner] reduction of one contiguous block of axes"))
