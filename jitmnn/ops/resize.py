"""Resize (opset 11-13 inputs: X, roi, scales, sizes).

Modes: nearest (nearest_mode round_prefer_floor / round_prefer_ceil / floor / ceil), linear and cubic
(cubic_coeff_a, exclude_outside), antialias for linear/cubic downsampling, with coordinate_transformation_mode
half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn and
tf_crop_and_resize (roi, extrapolation_value); opset-18 axes and keep_aspect_ratio_policy. scales / sizes / roi
must be known at plan time: constants, folded shape arithmetic, or graph inputs the planner keys the plan on.
The kernels (kernels/resize.py) resize H and W of 4-D NCHW float32 tensors from index/weight tables built
here at plan time, coordinates in float32 as ONNX Runtime computes them; other ranks, resizing N or C, and
non-float tensors run the (separable, any-rank) reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import resize as K

from ..errors import ShapeError
from . import _util as U
from .registry import CONVERTS, Algorithm, OpDef, register_algorithm, register_op

_CTMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
         "half_pixel_symmetric", "tf_crop_and_resize")
_MODES = ("nearest", "linear", "cubic")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
_POLICIES = ("stretch", "not_larger", "not_smaller")


def _attr(node, key, default):
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _check_attrs(node):
    mode = _attr(node, "mode", "nearest")
    if mode not in _MODES:
        raise ShapeError(f"Resize mode {mode!r} is not supported ({', '.join(_MODES)})")
    ctm = _attr(node, "coordinate_transformation_mode", "half_pixel")
    if ctm not in _CTMS:
        raise ShapeError(f"Resize coordinate_transformation_mode {ctm!r} is not supported (known: {', '.join(_CTMS)})")
    nm = _attr(node, "nearest_mode", "round_prefer_floor")
    if mode == "nearest" and nm not in _NEAREST_MODES:
        raise ShapeError(f"Resize nearest_mode {nm!r} is not supported")
    if mode == "nearest" and int(node.attrs.get("antialias", 0)):
        raise ShapeError("Resize antialias=1 needs mode linear or cubic, not nearest")
    policy = _attr(node, "keep_aspect_ratio_policy", "stretch")
    if policy not in _POLICIES:
        raise ShapeError(f"Resize keep_aspect_ratio_policy {policy!r} is not one of {', '.join(_POLICIES)}")


def _given(values, i, node):
    v = values[i] if len(values) > i and U.has_input(node, i) else None
    return None if v is None or np.asarray(v).size == 0 else np.asarray(v)


def _inputs(node, values, required=False):
    """(scales, sizes) from the inputs, whichever is given. values are plan-time arrays or None; with
    required=True an input that is given but not known at plan time raises PlanTimeValueNeeded (the
    planner then keys the plan on it when it is a graph input)."""
    if len(node.inputs) == 2:  # opset-10 form (X, scales)
        return U.const_input(values, 1, "Resize scales", required) if required else values[1], None
    if required:
        if U.has_input(node, 3):
            U.const_input(values, 3, "Resize sizes")
        elif U.has_input(node, 2):
            U.const_input(values, 2, "Resize scales")
    return _given(values, 2, node), _given(values, 3, node)


def _roi(node, values, rank, required=False):
    """Per-axis (start, end) of tf_crop_and_resize's region (normalised coordinates), over all axes."""
    if _attr(node, "coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize":
        return None
    if required and U.has_input(node, 1):
        U.const_input(values, 1, "Resize roi (tf_crop_and_resize)")
    roi = _given(values, 1, node)
    axes = _axes(node, rank)
    if roi is None:
        raise ShapeError("Resize with coordinate_transformation_mode tf_crop_and_resize needs roi")
    roi = roi.astype(np.float64).reshape(-1)
    if len(roi) != 2 * len(axes):
        raise ShapeError(f"Resize roi has {len(roi)} values for {len(axes)} axes (needs starts then ends)")
    full = [(0.0, 1.0)] * rank
    for k, a in enumerate(axes):
        full[a] = (float(roi[k]), float(roi[len(axes) + k]))
    return full


def _by_scales(node, values) -> bool:
    return _inputs(node, values)[1] is None


def _axes(node, rank):
    axes = node.attrs.get("axes")
    if axes is None:
        return list(range(rank))
    axes = [int(a) + rank if int(a) < 0 else int(a) for a in axes]
    if sorted(set(axes)) != sorted(axes) or min(axes, default=0) < 0 or max(axes, default=0) >= rank:
        raise ShapeError(f"Resize axes {node.attrs.get('axes')} are not distinct axes of rank {rank}")
    return axes


def output_geometry(node, in_shape, values):
    """(out_shape, per-axis scales as float32) following ONNX: sizes win (with keep_aspect_ratio_policy
    not_larger / not_smaller: one scale, the min / max of sizes/in over the resized axes, and output
    round(in * scale)); else floor(in * scale) with the product in float32 (10 * 0.7f is 7, not 6). With `axes` (opset 18) scales/sizes cover only those axes.
    roi does not change the output shape (as in ONNX's shape inference and reference)."""
    rank = len(in_shape)
    scales, sizes = _inputs(node, values)
    axes = _axes(node, rank)
    given = sizes if sizes is not None else scales
    if given is None:
        raise ShapeError("Resize needs scales or sizes known at plan time")
    given = np.asarray(given).reshape(-1)
    if len(given) != len(axes):
        what = "sizes" if sizes is not None else "scales"
        where = f"input rank {rank}" if node.attrs.get("axes") is None else f"axes {axes}"
        raise ShapeError(f"Resize {what} {given.tolist()} do not match {where} (input {tuple(in_shape)})")
    policy = _attr(node, "keep_aspect_ratio_policy", "stretch")
    out = list(int(d) for d in in_shape)
    sc = [np.float32(1)] * rank
    if sizes is not None:
        sizes = [int(v) for v in given]
        if policy != "stretch":
            ratios = [np.float64(o) / np.float64(in_shape[a]) for o, a in zip(sizes, axes)]
            scale = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                out[a] = int(np.floor(scale * np.float64(in_shape[a]) + 0.5))
                sc[a] = np.float32(scale)
        else:
            for o, a in zip(sizes, axes):
                out[a] = o
                sc[a] = np.float32(o) / np.float32(in_shape[a]) if in_shape[a] else np.float32(1)
    else:
        for v, a in zip(np.asarray(given, np.float32), axes):
            if v <= 0:
                raise ShapeError(f"Resize scales must be positive, got {given.tolist()}")
            sc[a] = np.float32(v)
            out[a] = int(np.floor(np.float32(in_shape[a]) * v))  # a float32 product, as ORT and ONNX's reference
    out = tuple(out)
    if min(out, default=1) <= 0:
        raise ShapeError(f"Resize output shape {out} from input {tuple(in_shape)} has an empty dimension")
    return out, sc


def _infer(node, shapes, dtypes, consts):
    if shapes[0] is None:
        raise ShapeError("Resize needs an input")
    _check_attrs(node)
    _inputs(node, consts, required=True)
    _roi(node, consts, len(shapes[0]), required=True)
    out, _ = output_geometry(node, shapes[0], consts)
    return [(out, dtypes[0])]


def source_coords(ctm, out_len, in_len, scale, roi=None, resized_len=None):
    """Float32 source coordinate of every output index (ONNX get_original_coordinate), evaluated in float32
    like ONNX Runtime. Checked against ORT 1.31 on every mode x nearest_mode x {x2, 1.7/0.6, 0.5/3.3, sizes}:
    identical except two exact-.5-tie cases with scale 0.6 / 1.7 (tf_half_pixel_for_nn + round_prefer_ceil,
    half_pixel_symmetric + ceil), where the last float32 bit of the coordinate decides the neighbour.
    resized_len: ONNX's length_resized for align_corners / tf_crop_and_resize, in_len * scale when the
    output size came from scales (not rounded to the output size: ONNX's reference, which the conformance
    data follows; ONNX Runtime uses the integer output length there), else out_len."""
    length = np.float64(out_len if resized_len is None else resized_len)
    x = np.arange(out_len, dtype=np.float32)
    s = np.float32(scale)
    half = np.float32(0.5)
    if ctm == "half_pixel":
        return (x + half) / s - half
    if ctm == "pytorch_half_pixel":
        return (x + half) / s - half if out_len > 1 else np.zeros(out_len, np.float32)
    if ctm == "align_corners":
        if length == 1:
            return np.zeros(out_len, np.float32)
        return x * np.float32(in_len - 1) / np.float32(length - 1)
    if ctm == "asymmetric":
        return x / s
    if ctm == "tf_half_pixel_for_nn":
        return (x + half) / s
    if ctm == "half_pixel_symmetric":
        adjustment = np.float32(out_len) / (s * np.float32(in_len))
        offset = np.float32(in_len) / np.float32(2) * (np.float32(1) - adjustment)
        return offset + (x + half) / s - half
    if ctm == "tf_crop_and_resize":  # roi = (start, end) in normalised input coordinates; float64
        start, end = roi
        if length == 1:
            return np.full(out_len, start * (in_len - 1) + (end - start) * (in_len - 1) / 2)
        return start * (in_len - 1) + np.arange(out_len) * ((end - start) * (in_len - 1) / (length - 1))
    raise ShapeError(f"Resize coordinate_transformation_mode {ctm!r} is not supported (known: {', '.join(_CTMS)})")


def nearest_index(coords, in_len, nearest_mode):
    c = coords.astype(np.float64)
    if nearest_mode == "round_prefer_floor":
        idx = np.where(c == np.floor(c) + 0.5, np.floor(c), np.round(c))
    elif nearest_mode == "round_prefer_ceil":
        idx = np.where(c == np.floor(c) + 0.5, np.ceil(c), np.round(c))
    elif nearest_mode == "floor":
        idx = np.floor(c)
    elif nearest_mode == "ceil":
        idx = np.ceil(c)
    else:
        raise ShapeError(f"Resize nearest_mode {nearest_mode!r} is not supported")
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def linear_taps(coords, in_len):
    """(i0, i1, weight of i1) with the coordinate clamped to [0, in_len - 1] (ONNX Runtime's rule)."""
    c = np.clip(coords, np.float32(0), np.float32(in_len - 1)).astype(np.float32)
    i0 = np.minimum(np.floor(c).astype(np.int64), in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    return i0, i1, (c - i0.astype(np.float32)).astype(np.float32)


def _keys_cubic(t, a):
    """Keys' cubic convolution kernel with coefficient a (ONNX cubic_coeff_a, default -0.75)."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def filter_taps(coords, in_len, scale, mode, cubic_a=-0.75, antialias=False, exclude_outside=False):
    """(indices [out, T] clamped into the input, weights [out, T] float64) of a linear or cubic filter.
    The window starts at base + start, base = ceil(c) - 1 (the tap left of c, or c - 1 when c is whole),
    start = floor(-R / s) + 1 for the filter's radius R (1 linear, 2 cubic) and s = min(scale, 1) with
    antialias (the filter stretched over 1/s input pixels when downsampling, weights renormalised), else 1.
    exclude_outside zeroes the taps outside the input and renormalises; the other taps read the edge."""
    c = np.asarray(coords, np.float64)
    radius = 1 if mode == "linear" else 2
    s = min(float(scale), 1.0) if antialias else 1.0
    start = int(np.floor(-radius / s)) + 1
    offs = np.arange(start, 1 - start + 1)
    taps = (np.ceil(c) - 1).astype(np.int64)[:, None] + offs[None, :]
    dist = (taps - c[:, None]) * s
    w = np.clip(1 - np.abs(dist), 0, 1) if mode == "linear" else _keys_cubic(dist, float(cubic_a))
    if antialias:
        w = w / w.sum(axis=1, keepdims=True)
    if exclude_outside:
        w = np.where((taps < 0) | (taps >= in_len), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    return np.clip(taps, 0, in_len - 1), w


def axis_plan(node, in_len, out_len, scale, roi=None, by_scales=False):
    """How one axis resizes: ("nearest", idx), ("linear", i0, i1, w1) or ("taps", idx [out, T], weights),
    plus a mask of the outputs that take extrapolation_value (tf_crop_and_resize outside the input) or None.
    by_scales: the output size came from the scales input (see source_coords' resized_len)."""
    ctm = _attr(node, "coordinate_transformation_mode", "half_pixel")
    mode = _attr(node, "mode", "nearest")
    resized = np.float64(in_len) * np.float64(scale) if by_scales else None
    coords = source_coords(ctm, out_len, in_len, scale, roi, resized)
    outside = None
    if ctm == "tf_crop_and_resize":
        outside = (coords < 0) | (coords > in_len - 1)
        outside = outside if outside.any() else None
    antialias = bool(int(node.attrs.get("antialias", 0))) and mode != "nearest" and float(scale) < 1
    if mode == "nearest":
        return ("nearest", nearest_index(coords, in_len, _attr(node, "nearest_mode", "round_prefer_floor"))), outside
    if mode == "linear" and not antialias:
        return ("linear",) + linear_taps(coords, in_len), outside
    idx, w = filter_taps(coords, in_len, scale, mode, float(node.attrs.get("cubic_coeff_a", -0.75)), antialias,
                         bool(int(node.attrs.get("exclude_outside", 0))))
    return ("taps", idx, w), outside


def _apply_axis(y, ax, plan, outside, fill):
    kind = plan[0]
    shp = [1] * y.ndim
    if kind == "nearest":
        y = np.take(y, plan[1], axis=ax)
    elif kind == "linear":
        i0, i1, w = plan[1:]
        shp[ax] = len(w)
        w = w.astype(np.float64).reshape(shp)
        y = np.take(y, i0, axis=ax) * (1 - w) + np.take(y, i1, axis=ax) * w
    else:
        idx, w = plan[1:]
        shp[ax] = idx.shape[0]
        acc = 0.0
        for t in range(idx.shape[1]):
            acc = acc + np.take(y, idx[:, t], axis=ax) * w[:, t].reshape(shp)
        y = acc
    if outside is not None:
        shp[ax] = len(outside)
        y = np.where(outside.reshape(shp), fill, y)
    return y


def _reference(node, x):
    """Separable: gather (nearest) or blend (linear, cubic) along each resized axis in turn, in float64;
    tf_crop_and_resize outputs outside the input take extrapolation_value."""
    a = np.asarray(x[0])
    mode = _attr(node, "mode", "nearest")
    values = [None] + [None if v is None else np.asarray(v) for v in x[1:]]
    out_shape, sc = output_geometry(node, a.shape, values)
    roi = _roi(node, values, a.ndim)
    fill = float(node.attrs.get("extrapolation_value", 0.0))
    y = a if mode == "nearest" and roi is None else a.astype(np.float64)
    for ax, (i, o, s) in enumerate(zip(a.shape, out_shape, sc)):
        if i == o and s == 1 and (roi is None or roi[ax] == (0.0, 1.0)):
            continue
        plan, outside = axis_plan(node, i, o, s, None if roi is None else roi[ax], _by_scales(node, values))
        y = _apply_axis(y, ax, plan, outside, fill)
    if np.dtype(a.dtype).kind in "iu":  # integer tensors: round and saturate, as ONNX's reference does
        info = np.iinfo(a.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return [np.asarray(y).astype(a.dtype)]


def _applies(ctx):
    """4-D float32 resizing H and W only (N and C keep their size, scale 1 and, for tf_crop_and_resize,
    the full roi)."""
    x = ctx.in_shapes[0]
    if not U.all_f32(ctx, [0]) or len(x) != 4 or ctx.out_shapes[0][:2] != tuple(x[:2]):
        return False
    _, sc = output_geometry(ctx.node, x, ctx.consts)
    roi = _roi(ctx.node, ctx.consts, 4)
    return sc[0] == 1 and sc[1] == 1 and (roi is None or roi[0] == roi[1] == (0.0, 1.0))


def _axis_plans(ctx):
    x, out = ctx.in_shapes[0], ctx.out_shapes[0]
    _, sc = output_geometry(ctx.node, x, ctx.consts)
    roi = _roi(ctx.node, ctx.consts, 4) or [None] * 4
    return [axis_plan(ctx.node, x[a], out[a], sc[a], roi[a], _by_scales(ctx.node, ctx.consts)) for a in (2, 3)]


def _kernel_kind(plans) -> str:
    """nearest / bilinear when both axes are that and nothing extrapolates, else the general taps kernel."""
    kinds = {p[0] for p, _ in plans}
    if any(outside is not None for _, outside in plans) or len(kinds) > 1 or "taps" in kinds:
        return "taps"
    return "nearest" if kinds == {"nearest"} else "bilinear"


def _as_taps(plan):
    """Any axis plan as ([O, T] indices, [O, T] float32 weights)."""
    if plan[0] == "nearest":
        return plan[1][:, None], np.ones((len(plan[1]), 1), np.float32)
    if plan[0] == "linear":
        i0, i1, w = plan[1:]
        return np.stack([i0, i1], 1), np.stack([1 - w, w], 1).astype(np.float32)
    return plan[1], plan[2].astype(np.float32)


@dataclass(frozen=True)
class ResizeParams:
    """Which kernel runs, its H and W index/weight tables, per-axis extrapolation masks, the fill value."""

    kind: str  # "nearest", "bilinear" or "taps"
    h_tables: tuple  # nearest: (index,); bilinear: (i0, i1, weight); taps: (indices [O, T], weights [O, T])
    w_tables: tuple
    masks: tuple  # (H mask, W mask) uint8: 1 where the output takes the fill (tf_crop_and_resize outside)
    fill: np.float32  # extrapolation_value


def _setup(ctx):
    x = ctx.in_shapes[0]
    plans = _axis_plans(ctx)
    kind = _kernel_kind(plans)
    if kind == "taps":
        tables = [_as_taps(p) for p, _ in plans]
    else:
        tables = [p[1:] for p, _ in plans]
    for t, n in zip(tables, (x[2], x[3])):  # bounds are checked here, never inside the kernel
        for idx in t:
            if idx.dtype.kind == "i" and idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ShapeError(f"Resize index table out of range for input {tuple(x)}")
    # The kernels take unsigned index tables: Numba emits no negative-index wraparound code for them.
    th, tw = (tuple(np.ascontiguousarray(a.astype(np.uint32)) if a.dtype.kind == "i" else np.ascontiguousarray(a)
                    for a in t) for t in tables)
    masks = tuple(np.zeros(n, np.uint8) if m is None else m.astype(np.uint8) for (_, m), n in
                  zip(plans, ctx.out_shapes[0][2:]))
    return ResizeParams(kind, th, tw, masks, np.float32(ctx.attr("extrapolation_value", 0.0)))


def _scratch(ctx):
    return 4 * int(ctx.in_shapes[0][3]) if _kernel_kind(_axis_plans(ctx)) == "taps" else 0


def _run(packed, params: ResizeParams, ins, outs, scratch):
    kind, th, tw, masks = params.kind, params.h_tables, params.w_tables, params.masks
    x = ins[0]
    n, c, h, w = x.shape
    o = outs[0]
    x3 = x.reshape(n * c, h, w)
    o3 = o.reshape(n * c, o.shape[2], o.shape[3])
    if kind == "nearest":
        K.resize_nearest(x3, o3, th[0], tw[0])
    elif kind == "bilinear":
        K.resize_bilinear(x3, o3, th[0], th[1], th[2], tw[0], tw[1], tw[2])
    else:
        K.resize_taps(x3, o3, scratch[:4 * w].view(np.float32), th[0], th[1], tw[0], tw[1], masks[0], masks[1],
                       params.fill)


def _cost(ctx):
    mode = ctx.attr("mode", "nearest")
    return U.cost_elements(ctx, 1.5 if mode == "nearest" else 3.0 if mode == "linear" else 6.0)


register_op(OpDef("Resize", _infer, _reference))
register_algorithm(Algorithm("Resize", "numba", run=_run, applies=_applies, setup=_setup, cost=_cost,
                             scratch_bytes=_scratch, fp16=CONVERTS,
                             doc="gather / bilinear blend / separable filter from index tables built at plan time"))
