"""More normalisations: RMSNormalization (opset 23), GroupNormalization (opset 18's per-group and opset 21's
per-channel scale/bias, told apart by the scale's length), LpNormalization, MeanVarianceNormalization and LRN.
Numba kernels (kernels/normalization.py) for the float32 RMS, group and LRN cases real models run; the rest
is numpy (LpNormalization and MVN appear in no target model)."""

from __future__ import annotations

import numpy as np

from jitmnn.kernels import normalization as K

from ..errors import ShapeError
from . import _util as U
from .registry import Algorithm, OpDef, register_algorithm, register_op

# ONNX TensorProto element types that stash_type may name (stage one's precision).
_STASH_DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


def stash_dtype(op: str, node) -> np.dtype:
    """The dtype of stage one (statistics and the normalised value) that stash_type names (default FLOAT)."""
    code = int(node.attrs.get("stash_type", 1))
    if code not in _STASH_DTYPES:
        raise ShapeError(f"{op} stash_type={code} is not a floating-point type ONNX allows (1, 10, 11, 16)")
    if code == 16:
        import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy)
    return np.dtype(_STASH_DTYPES[code])


def _stage_one_dtype(op, node):
    """float32 stash computes in float64 here (more exact, same result after the cast back)."""
    d = stash_dtype(op, node)
    return np.dtype(np.float64) if d == np.float32 else d


def _check_unidirectional(op, name, shape, target):
    """`shape` must broadcast to `target` without changing it (ONNX unidirectional broadcasting)."""
    try:
        ok = np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{op} {name} shape {tuple(shape)} does not broadcast to {tuple(target)}")


# ----- RMSNormalization --------------------------------------------------------------------------------
def _infer_rms(node, shapes, dtypes, consts):
    x = shapes[0]
    if x is None or len(shapes) < 2 or shapes[1] is None:
        raise ShapeError("RMSNormalization takes (X, scale)")
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), len(x), "RMSNormalization axis")
    stash_dtype("RMSNormalization", node)
    _check_unidirectional("RMSNormalization", "scale", shapes[1], x[axis:])
    return [(x, dtypes[0])]


def _ref_rms(node, x):
    v = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), v.ndim, "RMSNormalization axis")
    eps = float(node.attrs.get("epsilon", 1e-5))
    f = v.astype(_stage_one_dtype("RMSNormalization", node))
    ms = np.mean(f * f, axis=tuple(range(axis, v.ndim)), keepdims=True)
    normalized = (f / np.sqrt(ms + f.dtype.type(eps))).astype(v.dtype)
    return [(normalized * np.asarray(x[1]).astype(v.dtype)).astype(v.dtype)]


def _rms_box(ctx):
    x = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", -1)), len(x))
    return U.numel(x[:axis]), U.numel(x[axis:])


def _applies_rms(ctx):
    """float32 with a scale that is one value per normalised element: a constant of any broadcasting shape
    (expanded at prepare), or a run-time tensor already holding every value (a reshape view)."""
    if not U.all_f32(ctx, [0, 1]) or ctx.in_shapes[1] is None:
        return False
    return ctx.consts[1] is not None or U.numel(ctx.in_shapes[1]) == _rms_box(ctx)[1]


def _pack_rms(ctx):
    if ctx.consts[1] is None:
        return None
    x = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", -1)), len(x))
    scale = U.const_input(ctx.consts, 1, "RMSNormalization scale")
    return U.writable_f32(np.broadcast_to(scale, tuple(x[axis:]))).reshape(-1)


def _run_rms(packed, params, ins, outs, scratch):
    box, eps = params
    scale = packed if packed is not None else ins[1].reshape(-1)
    K.rms_norm(ins[0].reshape(box), scale, outs[0].reshape(box), eps)


register_op(OpDef("RMSNormalization", _infer_rms, _ref_rms))
register_algorithm(Algorithm(
    "RMSNormalization", "numba", run=_run_rms, pack=_pack_rms, applies=_applies_rms,
    setup=lambda ctx: (_rms_box(ctx), np.float32(ctx.attr("epsilon", 1e-5))),
    weight_bytes=lambda ctx: 4 * _rms_box(ctx)[1], cost=lambda ctx: U.cost_elements(ctx, 1.5),
    doc="mean of squares per row, then one scaled write"))


# ----- GroupNormalization ------------------------------------------------------------------------------
def _group_layout(node, x_shape, scale_shape):
    """(groups, per_scale): per_scale = 1 when scale/bias hold one value per channel (opset 21), or the
    channels per group when they hold one value per group (opset 18)."""
    if x_shape is None or len(x_shape) < 2:
        raise ShapeError(f"GroupNormalization needs an input of rank >= 2, got {x_shape}")
    if "num_groups" not in node.attrs:
        raise ShapeError("GroupNormalization needs the num_groups attribute")
    groups, channels = int(node.attrs["num_groups"]), int(x_shape[1])
    if groups <= 0 or channels % groups:
        raise ShapeError(f"GroupNormalization num_groups={groups} does not divide the {channels} channels")
    n = U.numel(scale_shape) if scale_shape is not None else -1
    if scale_shape is None or len(scale_shape) != 1 or n not in (channels, groups):
        raise ShapeError(f"GroupNormalization scale/bias shape {scale_shape}: expected ({channels},) "
                         f"(opset 21) or ({groups},) (opset 18)")
    return groups, 1 if n == channels else channels // groups


def _infer_gn(node, shapes, dtypes, consts):
    if len(shapes) != 3:
        raise ShapeError(f"GroupNormalization takes (X, scale, bias), got {len(shapes)} inputs")
    _group_layout(node, shapes[0], shapes[1])
    if shapes[2] is None or tuple(shapes[2]) != tuple(shapes[1]):
        raise ShapeError(f"GroupNormalization bias shape {shapes[2]} differs from scale shape {shapes[1]}")
    stash_dtype("GroupNormalization", node)
    return [(shapes[0], dtypes[0])]


def _ref_gn(node, x):
    v = np.asarray(x[0])
    groups, per_scale = _group_layout(node, v.shape, np.shape(x[1]))
    eps = float(node.attrs.get("epsilon", 1e-5))
    f = v.astype(_stage_one_dtype("GroupNormalization", node)).reshape(v.shape[0], groups, -1)
    mean = f.mean(axis=2, keepdims=True)
    var = ((f - mean) ** 2).mean(axis=2, keepdims=True)
    normalized = ((f - mean) / np.sqrt(var + f.dtype.type(eps))).reshape(v.shape).astype(v.dtype)
    shp = (1, -1) + (1,) * (v.ndim - 2)
    scale = np.repeat(np.asarray(x[1]), per_scale).astype(v.dtype).reshape(shp)
    bias = np.repeat(np.asarray(x[2]), per_scale).astype(v.dtype).reshape(shp)
    return [(normalized * scale + bias).astype(v.dtype)]


def _gn_box(ctx):
    x = ctx.in_shapes[0]
    groups, per_scale = _group_layout(ctx.node, x, ctx.in_shapes[1])
    return (int(x[0]), groups, int(x[1]) // groups, U.numel(x[2:])), per_scale


def _pack_gn(ctx):
    """Constant scale/bias as plain float32 arrays (a compressed weight is expanded once); None for a
    run-time one, which run() reads directly."""
    return tuple(None if ctx.consts[i] is None else U.writable_f32(ctx.consts[i]).reshape(-1) for i in (1, 2))


def _run_gn(packed, params, ins, outs, scratch):
    (box, per_scale), eps = params
    scale = ins[1] if packed[0] is None else packed[0]
    bias = ins[2] if packed[1] is None else packed[1]
    K.group_norm(ins[0].reshape(box), scale, bias, outs[0].reshape(box), eps, per_scale)


register_op(OpDef("GroupNormalization", _infer_gn, _ref_gn))
register_algorithm(Algorithm(
    "GroupNormalization", "numba", run=_run_gn, pack=_pack_gn, applies=lambda ctx: U.all_f32(ctx),
    setup=lambda ctx: (_gn_box(ctx), np.float32(ctx.attr("epsilon", 1e-5))),
    cost=lambda ctx: U.cost_elements(ctx, 2.0), doc="two-pass mean/variance per (batch, group)"))


# ----- LpNormalization ---------------------------------------------------------------------------------
def _lp_p(node) -> int:
    p = int(node.attrs.get("p", 2))
    if p not in (1, 2):
        raise ShapeError(f"LpNormalization p={p} is not supported (ONNX allows 1 or 2)")
    return p


def _infer_lp(node, shapes, dtypes, consts):
    if shapes[0] is None:
        raise ShapeError("LpNormalization needs an input")
    U.norm_axis(int(node.attrs.get("axis", -1)), len(shapes[0]), "LpNormalization axis")
    _lp_p(node)
    return [(shapes[0], dtypes[0])]


def _ref_lp(node, x):
    v = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), v.ndim, "LpNormalization axis")
    f = v.astype(np.float64)
    norm = np.abs(f).sum(axis=axis, keepdims=True) if _lp_p(node) == 1 else \
        np.sqrt((f * f).sum(axis=axis, keepdims=True))
    # A zero norm (all-zero slice) gives zeros, not 0/0 (the spec's rule).
    out = np.divide(f, norm, out=np.zeros_like(f), where=norm != 0)
    return [out.astype(v.dtype)]


register_op(OpDef("LpNormalization", _infer_lp, _ref_lp))


# ----- MeanVarianceNormalization -----------------------------------------------------------------------
MVN_EPSILON = 1e-9  # the constant ONNX's function body adds to the standard deviation


def _mvn_axes(node, rank):
    axes = [U.norm_axis(int(a), rank, "MeanVarianceNormalization axes") for a in node.attrs.get("axes", (0, 2, 3))]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"MeanVarianceNormalization axes {list(node.attrs.get('axes'))} repeat an axis")
    return tuple(sorted(axes))


def _infer_mvn(node, shapes, dtypes, consts):
    if shapes[0] is None:
        raise ShapeError("MeanVarianceNormalization needs an input")
    _mvn_axes(node, len(shapes[0]))
    return [(shapes[0], dtypes[0])]


def _ref_mvn(node, x):
    v = np.asarray(x[0])
    axes = _mvn_axes(node, v.ndim)
    f = v.astype(np.float64)
    mean = f.mean(axis=axes, keepdims=True)
    std = np.sqrt(((f - mean) ** 2).mean(axis=axes, keepdims=True))
    return [((f - mean) / (std + MVN_EPSILON)).astype(v.dtype)]


register_op(OpDef("MeanVarianceNormalization", _infer_mvn, _ref_mvn))


# ----- LRN ---------------------------------------------------------------------------------------------
def _lrn_params(node):
    if "size" not in node.attrs:
        raise ShapeError("LRN needs the size attribute")
    size = int(node.attrs["size"])
    if size <= 0:
        raise ShapeError(f"LRN size={size} must be positive")
    return (size, float(node.attrs.get("alpha", 1e-4)), float(node.attrs.get("beta", 0.75)),
            float(node.attrs.get("bias", 1.0)))


def _infer_lrn(node, shapes, dtypes, consts):
    if shapes[0] is None or len(shapes[0]) < 2:
        raise ShapeError(f"LRN needs an input of rank >= 2 (N, C, ...), got {shapes[0]}")
    _lrn_params(node)
    return [(shapes[0], dtypes[0])]


def _ref_lrn(node, x):
    v = np.asarray(x[0])
    size, alpha, beta, bias = _lrn_params(node)
    f = v.astype(np.float64)
    sq = f * f
    C = v.shape[1]
    # Running sum over channels: window of c is [c - (size-1)//2, c + ceil((size-1)/2)] clipped.
    cum = np.concatenate([np.zeros_like(sq[:, :1]), np.cumsum(sq, axis=1)], axis=1)
    c = np.arange(C)
    lo = np.maximum(0, c - (size - 1) // 2)
    hi = np.minimum(C - 1, c + (size - 1 - (size - 1) // 2))
    window = cum[:, hi + 1] - cum[:, lo]
    return [(f / (bias + alpha / size * window) ** beta).astype(v.dtype)]


def _run_lrn(packed, params, ins, outs, scratch):
    box, (size, alpha, beta, bias) = params
    K.lrn(ins[0].reshape(box), outs[0].reshape(box), size, np.float32(alpha), np.float32(beta), np.float32(bias))


register_op(OpDef("LRN", _infer_lrn, _ref_lrn))
register_algorithm(Algorithm(
    "LRN", "numba", run=_run_lrn, applies=lambda ctx: U.all_f32(ctx),
    setup=lambda ctx: ((ctx.in_shapes[0][0], ctx.in_shapes[0][1], U.numel(ctx.in_shapes[0][2:])),
                       _lrn_params(ctx.node)),
    cost=lambda ctx: U.cost_elements(ctx, 2.0 + int(ctx.attr("size", 1))),
    doc="sum of squares over the channel window accumulated in the output, then x / (bias + a*s)^beta"))
