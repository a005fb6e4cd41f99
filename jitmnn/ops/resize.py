"""Resize (opset 11-13 inputs: X, roi, scales, sizes).

Modes: nearest (nearest_mode round_prefer_floor / round_prefer_ceil / floor / ceil) and linear, with
coordinate_transformation_mode half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners,
asymmetric, tf_half_pixel_for_nn; cubic and tf_crop_and_resize are refused at plan time (ShapeError).
The kernels (kernels/resize.py) resize H and W of 4-D NCHW float32 tensors from index/weight tables built
here at plan time in float32, as ONNX Runtime computes them; other ranks, resizing N or C, and non-float
tensors run the (separable, any-rank) reference."""

from __future__ import annotations

import numpy as np

from jitmnn.kernels import resize as K

from ..errors import ShapeError
from . import _util as U
from .registry import CONVERTS, Algorithm, OpDef, register_algorithm, register_op

_CTMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
         "half_pixel_symmetric")


def _attr(node, key, default):
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _inputs(node, values):
    """(scales, sizes) from the inputs, whichever is given (values are plan-time arrays or None)."""
    if len(node.inputs) == 2:  # opset-10 form (X, scales)
        return values[1], None
    scales = values[2] if len(values) > 2 and U.has_input(node, 2) else None
    sizes = values[3] if len(values) > 3 and U.has_input(node, 3) else None
    if scales is not None and np.asarray(scales).size == 0:
        scales = None
    return scales, sizes


def output_geometry(node, in_shape, values):
    """(out_shape, per-axis scales as float32) following ONNX: sizes win; else floor(in * scale)."""
    rank = len(in_shape)
    scales, sizes = _inputs(node, values)
    axes = node.attrs.get("axes")
    if axes is not None:  # opset 18: scales/sizes cover only these axes; the others keep their size
        axes = [int(a) + rank if int(a) < 0 else int(a) for a in axes]
        if sorted(set(axes)) != sorted(axes) or min(axes, default=0) < 0 or max(axes, default=0) >= rank:
            raise ShapeError(f"Resize axes {node.attrs.get('axes')} are not distinct axes of rank {rank}")
        given = sizes if sizes is not None else scales
        if given is not None:
            given = np.asarray(given).reshape(-1)
            if len(given) != len(axes):
                raise ShapeError(f"Resize has {len(given)} scales/sizes for axes {axes}")
            full = np.array(list(in_shape) if sizes is not None else [1.0] * rank, given.dtype)
            full[axes] = given
            sizes, scales = (full, None) if sizes is not None else (None, full)
    if sizes is not None:
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if len(sizes) != rank:
            raise ShapeError(f"Resize sizes {sizes} do not match input rank {rank} ({tuple(in_shape)})")
        out = tuple(sizes)
        sc = [np.float32(o) / np.float32(i) if i else np.float32(1) for o, i in zip(out, in_shape)]
    elif scales is not None:
        sc = [np.float32(v) for v in np.asarray(scales, np.float32).reshape(-1)]
        if len(sc) != rank:
            raise ShapeError(f"Resize scales {list(map(float, sc))} do not match input rank {rank} ({tuple(in_shape)})")
        if min(sc) <= 0:
            raise ShapeError(f"Resize scales must be positive, got {list(map(float, sc))}")
        out = tuple(int(np.floor(np.float64(d) * np.float64(s))) for d, s in zip(in_shape, sc))
    else:
        raise ShapeError("Resize needs scales or sizes known at plan time")
    if min(out) <= 0:
        raise ShapeError(f"Resize output shape {out} from input {tuple(in_shape)} has an empty dimension")
    return out, sc


def _infer(node, shapes, dtypes, consts):
    if shapes[0] is None:
        raise ShapeError("Resize needs an input")
    mode = _attr(node, "mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise ShapeError(f"Resize mode {mode!r} is not supported (nearest, linear)")
    ctm = _attr(node, "coordinate_transformation_mode", "half_pixel")
    if ctm not in _CTMS:
        raise ShapeError(f"Resize coordinate_transformation_mode {ctm!r} is not supported (known: {', '.join(_CTMS)})")
    nm = _attr(node, "nearest_mode", "round_prefer_floor")
    if mode == "nearest" and nm not in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        raise ShapeError(f"Resize nearest_mode {nm!r} is not supported")
    out, _ = output_geometry(node, shapes[0], consts)
    return [(out, dtypes[0])]


def source_coords(ctm, out_len, in_len, scale):
    """Float32 source coordinate of every output index (ONNX get_original_coordinate), evaluated in float32
    like ONNX Runtime. Checked against ORT 1.31 on every mode x nearest_mode x {x2, 1.7/0.6, 0.5/3.3, sizes}:
    identical except two exact-.5-tie cases with scale 0.6 / 1.7 (tf_half_pixel_for_nn + round_prefer_ceil,
    half_pixel_symmetric + ceil), where the last float32 bit of the coordinate decides the neighbour."""
    x = np.arange(out_len, dtype=np.float32)
    s = np.float32(scale)
    half = np.float32(0.5)
    if ctm == "half_pixel":
        return (x + half) / s - half
    if ctm == "pytorch_half_pixel":
        return (x + half) / s - half if out_len > 1 else np.zeros(out_len, np.float32)
    if ctm == "align_corners":
        if out_len == 1:
            return np.zeros(1, np.float32)
        return x * np.float32(in_len - 1) / np.float32(out_len - 1)
    if ctm == "asymmetric":
        return x / s
    if ctm == "tf_half_pixel_for_nn":
        return (x + half) / s
    if ctm == "half_pixel_symmetric":
        adjustment = np.float32(out_len) / (s * np.float32(in_len))
        offset = np.float32(in_len) / np.float32(2) * (np.float32(1) - adjustment)
        return offset + (x + half) / s - half
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


def _axis_tables(node, in_len, out_len, scale):
    ctm = _attr(node, "coordinate_transformation_mode", "half_pixel")
    coords = source_coords(ctm, out_len, in_len, scale)
    if _attr(node, "mode", "nearest") == "nearest":
        return (nearest_index(coords, in_len, _attr(node, "nearest_mode", "round_prefer_floor")),)
    return linear_taps(coords, in_len)


def _reference(node, x):
    """Separable: gather (nearest) or blend (linear) along each resized axis in turn, in float64."""
    a = np.asarray(x[0])
    mode = _attr(node, "mode", "nearest")
    out_shape, sc = output_geometry(node, a.shape, [None] + [None if v is None else np.asarray(v) for v in x[1:]])
    y = a.astype(np.float64) if mode == "linear" else a
    for ax, (i, o, s) in enumerate(zip(a.shape, out_shape, sc)):
        if i == o and s == 1:
            continue
        t = _axis_tables(node, i, o, s)
        if mode == "nearest":
            y = np.take(y, t[0], axis=ax)
        else:
            i0, i1, w = t
            shp = [1] * a.ndim
            shp[ax] = o
            w = w.astype(np.float64).reshape(shp)
            y = np.take(y, i0, axis=ax) * (1 - w) + np.take(y, i1, axis=ax) * w
    return [np.asarray(y).astype(a.dtype)]


def _applies(ctx):
    x = ctx.in_shapes[0]
    if not U.all_f32(ctx, [0]) or len(x) != 4 or ctx.out_shapes[0][:2] != tuple(x[:2]):
        return False
    if _attr(ctx.node, "mode", "nearest") not in ("nearest", "linear"):
        return False
    if _attr(ctx.node, "coordinate_transformation_mode", "half_pixel") not in _CTMS:
        return False
    return _attr(ctx.node, "nearest_mode", "round_prefer_floor") in (
        "round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _setup(ctx):
    x, out = ctx.in_shapes[0], ctx.out_shapes[0]
    _, sc = output_geometry(ctx.node, x, ctx.consts)
    th = _axis_tables(ctx.node, x[2], out[2], sc[2])
    tw = _axis_tables(ctx.node, x[3], out[3], sc[3])
    for t, n in ((th, x[2]), (tw, x[3])):  # bounds are checked here, never inside the kernel
        for idx in t[:2] if len(t) == 3 else t:
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ShapeError(f"Resize index table out of range for input {tuple(x)}")
    # The kernels take unsigned index tables: Numba emits no negative-index wraparound code for them.
    th = tuple(t.astype(np.uint32) if t.dtype.kind == "i" else t for t in th)
    tw = tuple(t.astype(np.uint32) if t.dtype.kind == "i" else t for t in tw)
    return _attr(ctx.node, "mode", "nearest"), th, tw


def _run(packed, params, ins, outs, scratch):
    mode, th, tw = params
    x = ins[0]
    n, c, h, w = x.shape
    o = outs[0]
    x3 = x.reshape(n * c, h, w)
    o3 = o.reshape(n * c, o.shape[2], o.shape[3])
    if mode == "nearest":
        K.resize_nearest(x3, o3, th[0], tw[0])
    else:
        K.resize_bilinear(x3, o3, th[0], th[1], th[2], tw[0], tw[1], tw[2])


register_op(OpDef("Resize", _infer, _reference))
register_algorithm(Algorithm("Resize", "numba", run=_run, applies=_applies, setup=_setup,
                             cost=lambda ctx: U.cost_elements(ctx, 1.5 if ctx.attr("mode", "nearest") == "nearest"
                                                              else 3.0),
                             fp16=CONVERTS, doc="gather / bilinear blend from index tables built at plan time"))
