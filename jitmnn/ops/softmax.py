"""Softmax / LogSoftmax / Hardmax over one axis (opset-13 semantics: the axis alone, default -1), numerically
stable. With `coerce_2d` (opset < 13 models) the input is seen as 2-D, [dims before axis, dims from axis on],
and normalised over the second: the same [outer, n, inner] box with inner = 1."""

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


def _box(node, shape) -> tuple:
    """(outer, n, inner): the softmax runs over n, independently for every outer and inner index."""
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), len(shape))
    if int(node.attrs.get("coerce_2d", 0)):
        return U.numel(shape[:axis]), U.numel(shape[axis:]), 1
    return U.numel(shape[:axis]), int(shape[axis]), U.numel(shape[axis + 1:])


def _reference(node, x):
    a0 = np.asarray(x[0])
    a = a0.reshape(_box(node, a0.shape))
    axis = 1
    # Half-precision inputs compute in float32, as ONNX's function body and ONNX Runtime do (float64 and
    # one final rounding lands 1 fp16 ulp away from them); float32 and float64 in float64.
    v = a.astype(np.float32 if a.dtype.itemsize < 4 else np.float64)
    v = v - v.max(axis=axis, keepdims=True)
    if node.op == "LogSoftmax":
        r = v - np.log(np.exp(v).sum(axis=axis, keepdims=True))
    else:
        e = np.exp(v)
        r = e / e.sum(axis=axis, keepdims=True)
    return [r.astype(a.dtype).reshape(a0.shape)]


def _setup(ctx):
    return _box(ctx.node, ctx.in_shapes[0]), ctx.node.op == "LogSoftmax"


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
    a0 = np.asarray(x[0])
    a = a0.reshape(_box(node, a0.shape))
    idx = np.expand_dims(np.argmax(a, axis=1), 1)
    out = np.zeros_like(a)
    np.put_along_axis(out, idx, 1, axis=1)
    return [out.reshape(a0.shape)]


register_op(OpDef("Hardmax", _infer, _ref_hardmax))
