"""Normalisation: BatchNormalization (inference mode, standalone; the converter folds the ones that follow
a Conv) and LayerNormalization (opset 17: axis, epsilon, stash_type, Scale and optional B; the optional
Mean and InvStdDev outputs are of stash_type's dtype)."""

from __future__ import annotations

import numpy as np

from jitmnn.kernels import norm as K

from ..errors import ShapeError
from . import _util as U
from .normalization import stash_dtype
from .registry import Algorithm, OpDef, register_algorithm, register_op


# ----- BatchNormalization ----------------------------------------------------------------------------
def _infer_bn(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None or len(x) < 2:
        raise ShapeError(f"BatchNormalization needs an input of rank >= 2, got {x}")
    if len(shapes) != 5:
        raise ShapeError(f"BatchNormalization takes (X, scale, B, mean, var), got {len(shapes)} inputs")
    for name, s in zip(("scale", "B", "mean", "var"), shapes[1:]):
        if s is None or U.numel(s) != x[1] or len(s) != 1:
            raise ShapeError(f"BatchNormalization {name} has shape {s}, expected ({x[1]},) for input {tuple(x)}")
    return [(x, dtypes[0])]


def _bn_scale_shift(node, scale, bias, mean, var):
    eps = float(node.attrs.get("epsilon", 1e-5))
    a = np.asarray(scale, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    b = np.asarray(bias, np.float64) - np.asarray(mean, np.float64) * a
    return a, b


def _ref_bn(node, x):
    a, b = _bn_scale_shift(node, *x[1:5])
    v = np.asarray(x[0])
    shp = (1, -1) + (1,) * (v.ndim - 2)
    return [(v.astype(np.float64) * a.reshape(shp) + b.reshape(shp)).astype(v.dtype)]


def _pack_bn(ctx):
    vals = [U.const_input(ctx.consts, i, "BatchNormalization parameter") for i in range(1, 5)]
    a, b = _bn_scale_shift(ctx.node, *vals)
    return a.astype(np.float32), b.astype(np.float32)


def _run_bn(packed, params, ins, outs, scratch):
    x = ins[0]
    box = (x.shape[0], x.shape[1], -1)
    K.channel_affine(x.reshape(box), packed[0], packed[1], outs[0].reshape(box))


register_op(OpDef("BatchNormalization", _infer_bn, _ref_bn))
register_algorithm(Algorithm(
    "BatchNormalization", "numba", run=_run_bn, pack=_pack_bn,
    applies=lambda ctx: (U.all_f32(ctx, [0]) and all(c is not None for c in ctx.consts[1:5])
                         and len(ctx.out_shapes) == 1),
    weight_bytes=lambda ctx: 8 * ctx.in_shapes[0][1], cost=U.cost_elements,
    doc="per-channel scale/shift precomputed at prepare"))


# ----- LayerNormalization ----------------------------------------------------------------------------
def _infer_ln(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None:
        raise ShapeError("LayerNormalization needs an input")
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), len(x))
    norm_shape = tuple(x[axis:])
    for name, i in (("Scale", 1), ("B", 2)):
        if i < len(shapes) and shapes[i] is not None:
            try:
                b = np.broadcast_shapes(tuple(shapes[i]), norm_shape)
            except ValueError:
                b = None
            if b is None or U.numel(b) != U.numel(norm_shape):
                raise ShapeError(f"LayerNormalization {name} shape {shapes[i]} does not broadcast to {norm_shape}")
    outs = [(x, dtypes[0])]
    stat = tuple(x[:axis]) + (1,) * (len(x) - axis)
    outs += [(stat, stash_dtype("LayerNormalization", node))] * (len(node.outputs) - 1)
    return outs


def _ref_ln(node, x):
    v = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), v.ndim)
    eps = float(node.attrs.get("epsilon", 1e-5))
    axes = tuple(range(axis, v.ndim))
    f = v.astype(np.float64)
    mean = f.mean(axis=axes, keepdims=True)
    var = ((f - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    y = (f - mean) * inv * np.asarray(x[1], np.float64)
    if len(x) > 2 and x[2] is not None:
        y = y + np.asarray(x[2], np.float64)
    stash = stash_dtype("LayerNormalization", node)
    return [y.astype(v.dtype), mean.astype(stash), inv.astype(stash)][:max(1, len(node.outputs))]


def _pack_ln(ctx):
    """Scale and bias as [cols] float32 (a [1, 1, C] or [C] scale both become C values)."""
    x = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", -1)), len(x))
    norm_shape = tuple(x[axis:])
    scale = U.const_input(ctx.consts, 1, "LayerNormalization Scale").astype(np.float32)
    bias = U.const_input(ctx.consts, 2, "LayerNormalization B", required=False) if len(ctx.consts) > 2 else None
    bias = np.zeros(1, np.float32) if bias is None else bias.astype(np.float32)

    def flat_cols(v):
        return U.writable_f32(np.broadcast_to(v, np.broadcast_shapes(v.shape, norm_shape))).reshape(-1)

    return flat_cols(scale), flat_cols(bias)


def _setup_ln(ctx):
    x = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", -1)), len(x))
    return (U.numel(x[:axis]), U.numel(x[axis:])), np.float32(ctx.attr("epsilon", 1e-5))


def _run_ln(packed, params, ins, outs, scratch):
    box, eps = params
    K.layer_norm(ins[0].reshape(box), packed[0], packed[1], outs[0].reshape(box), eps)


def _applies_ln(ctx):
    has_b = len(ctx.consts) > 2 and U.has_input(ctx.node, 2)
    return (U.all_f32(ctx, [0]) and len(ctx.out_shapes) == 1 and ctx.consts[1] is not None
            and (not has_b or ctx.consts[2] is not None))


register_op(OpDef("LayerNormalization", _infer_ln, _ref_ln))
register_algorithm(Algorithm(
    "LayerNormalization", "numba", run=_run_ln, pack=_pack_ln, setup=_setup_ln, applies=_applies_ln,
    weight_bytes=lambda ctx: 8 * _setup_ln(ctx)[0][1],
    cost=lambda ctx: U.cost_elements(ctx, 2.0), doc="two-pass mean/variance per row"))


# ----- InstanceNormalization (numpy reference; no target model uses it) --------------------------------
def _infer_in(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None or len(x) < 3:
        raise ShapeError(f"InstanceNormalization needs an input of rank >= 3, got {x}")
    for name, s in zip(("scale", "B"), shapes[1:3]):
        if s is None or tuple(s) != (x[1],):
            raise ShapeError(f"InstanceNormalization {name} has shape {s}, expected ({x[1]},)")
    return [(x, dtypes[0])]


def _ref_in(node, x):
    v = np.asarray(x[0])
    f = v.astype(np.float64)
    axes = tuple(range(2, v.ndim))
    mean = f.mean(axis=axes, keepdims=True)
    var = ((f - mean) ** 2).mean(axis=axes, keepdims=True)
    shp = (1, -1) + (1,) * (v.ndim - 2)
    y = (f - mean) / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
    y = y * np.asarray(x[1], np.float64).reshape(shp) + np.asarray(x[2], np.float64).reshape(shp)
    return [y.astype(v.dtype)]


register_op(OpDef("InstanceNormalization", _infer_in, _ref_in))
