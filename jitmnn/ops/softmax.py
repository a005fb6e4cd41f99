"""Softmax / LogSoftmax over one axis (opset-13 semantics: the axis alone, default -1), numerically stable.
The converter rewrites opset<13 models (softmax over the flattened trailing axes) when they differ."""

from __future__ import annotations

import numpy as np

from jitmnn.kernels import softmax as K

from ..errors import ShapeError
from . import _util as U
from .registry import Algorithm, OpDef, register_algorithm, register_op


def _infer(node, shapes, dtypes, consts):
    if shapes[0] is None:
        raise ShapeError(f"{node.op} needs an input")
    U.norm_axis(int(node.attrs.get("axis", -1)), len(shapes[0]))
    return [(shapes[0], dtypes[0])]


def _reference(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), a.ndim)
    v = a.astype(np.float64)
    v = v - v.max(axis=axis, keepdims=True)
    if node.op == "LogSoftmax":
        r = v - np.log(np.exp(v).sum(axis=axis, keepdims=True))
    else:
        e = np.exp(v)
        r = e / e.sum(axis=axis, keepdims=True)
    return [r.astype(a.dtype)]


def _setup(ctx):
    shape = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", -1)), len(shape))
    return (U.numel(shape[:axis]), int(shape[axis]), U.numel(shape[axis + 1:])), ctx.node.op == "LogSoftmax"


def _run(packed, params, ins, outs, scratch):
    box, log = params
    K.softmax(ins[0].reshape(box), outs[0].reshape(box), log)


for _op in ("Softmax", "LogSoftmax"):
    register_op(OpDef(_op, _infer, _reference))
    register_algorithm(Algorithm(_op, "numba", run=_run, setup=_setup, applies=lambda ctx: U.all_f32(ctx),
                                 cost=lambda ctx: U.cost_elements(ctx, 6.0),
                                 doc="max-subtracted exp over [outer, n, inner]"))


def _ref_hardmax(node, x):
    """1 at the first maximum along the axis, 0 elsewhere."""
    a = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), a.ndim)
    idx = np.expand_dims(np.argmax(a, axis=axis), axis)
    out = np.zeros_like(a)
    np.put_along_axis(out, idx, 1, axis=axis)
    return [out]


register_op(OpDef("Hardmax", _infer, _ref_hardmax))
