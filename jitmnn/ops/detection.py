"""Detection ops: NonMaxSuppression, RoiAlign, MaxRoiPool, GridSample (ONNX semantics).

Numba kernels in kernels/detection.py for NonMaxSuppression, RoiAlign and GridSample (4-D and 5-D,
float32); MaxRoiPool and other dtypes/ranks run the numpy reference. NonMaxSuppression's output length
depends on the data (data_dependent): when the boxes and scores are not known at plan time its infer()
raises RunTimeValuesNeeded, and `nms_fast(node, inputs)` below is the kernel-backed equivalent of its
reference for a caller that runs it on the data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import detection as K

from ..errors import InputError, ShapeError
from . import _util as U
from .registry import Algorithm, OpDef, RunTimeValuesNeeded, register_algorithm, register_op


def _str_attr(node, key, default):
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _scalar(x, i, default, dtype):
    """Optional scalar input i (absent or empty -> default)."""
    v = x[i] if len(x) > i else None
    if v is None or np.size(v) == 0:
        return default
    return dtype(np.asarray(v).reshape(-1)[0])


# ----- NonMaxSuppression -------------------------------------------------------------------------------
def _nms_check(shapes):
    boxes, scores = tuple(shapes[0]), tuple(shapes[1])
    if len(boxes) != 3 or boxes[2] != 4 or len(scores) != 3 or scores[0] != boxes[0] or scores[2] != boxes[1]:
        raise ShapeError(f"NonMaxSuppression needs boxes [B, N, 4] and scores [B, C, N], got {boxes} and {scores}")


def _nms_params(node, x):
    """(max boxes per class, iou threshold, score threshold or None, center_point_box) with ONNX defaults:
    no max_output_boxes_per_class input means 0, i.e. no box is selected."""
    max_out = max(_scalar(x, 2, 0, int), 0)
    iou = _scalar(x, 3, np.float32(0), np.float32)
    score = _scalar(x, 4, None, np.float32)
    center = int(node.attrs.get("center_point_box", 0))
    if center not in (0, 1):
        raise ShapeError(f"NonMaxSuppression center_point_box {center} must be 0 or 1")
    return max_out, iou, score, center


def _box_extent(b, center):
    """(x_min, x_max, y_min, y_max) float32 arrays of boxes b [N, 4]."""
    b = b.astype(np.float32)
    if center:
        hw, hh = b[:, 2] / np.float32(2), b[:, 3] / np.float32(2)
        return b[:, 0] - hw, b[:, 0] + hw, b[:, 1] - hh, b[:, 1] + hh
    return (np.minimum(b[:, 1], b[:, 3]), np.maximum(b[:, 1], b[:, 3]),
            np.minimum(b[:, 0], b[:, 2]), np.maximum(b[:, 0], b[:, 2]))


def _ref_nms(node, x):
    boxes, scores = np.asarray(x[0]), np.asarray(x[1])
    max_out, iou_th, score_th, center = _nms_params(node, x)
    rows = []
    for b in range(boxes.shape[0]):
        x0, x1, y0, y1 = _box_extent(boxes[b], center)
        area = (x1 - x0) * (y1 - y0)
        for c in range(scores.shape[1]):
            s = scores[b, c].astype(np.float32)
            cand = np.arange(s.size) if score_th is None else np.flatnonzero(s > score_th)
            cand = cand[np.lexsort((cand, -s[cand]))]  # score descending, then box index ascending
            kept = np.zeros(0, np.int64)
            for i in cand:
                if kept.size >= max_out:
                    break
                iw = np.minimum(x1[i], x1[kept]) - np.maximum(x0[i], x0[kept])
                ih = np.minimum(y1[i], y1[kept]) - np.maximum(y0[i], y0[kept])
                inter = iw * ih
                union = area[i] + area[kept] - inter
                with np.errstate(divide="ignore", invalid="ignore"):
                    over = (iw > 0) & (ih > 0) & (inter > 0) & (area[i] > 0) & (area[kept] > 0) & (union > 0) & \
                        (inter / union > iou_th)
                if not over.any():
                    kept = np.append(kept, i)
                    rows.append((b, c, i))
    return [np.array(rows, np.int64).reshape(-1, 3)]


def _infer_nms(node, shapes, dtypes, consts):
    _nms_check(shapes)
    needed = [i for i in range(min(len(consts), 5)) if U.has_input(node, i)]
    if any(consts[i] is None for i in needed):
        raise RunTimeValuesNeeded("NonMaxSuppression: the number of selected boxes is known only from the data")
    vals = [U.const_input(consts, i, "NonMaxSuppression input") if i in needed else None for i in range(5)]
    return [(_ref_nms(node, vals)[0].shape, np.int64)]


def nms_fast(node, x):
    """The kernel's answer for NonMaxSuppression on run-time data (same contract as its reference)."""
    boxes = np.ascontiguousarray(x[0], np.float32)
    scores = np.ascontiguousarray(x[1], np.float32)
    _nms_check([boxes.shape, scores.shape])
    max_out, iou_th, score_th, center = _nms_params(node, x)
    B, N = boxes.shape[:2]
    out = np.empty((B * scores.shape[1] * min(max_out, N), 3), np.int64)
    order, kept = np.empty(N, np.int64), np.empty(N, np.int64)
    n = K.nms(boxes, scores, max_out, np.float32(iou_th), np.float32(0 if score_th is None else score_th),
              score_th is not None, center, order, kept, out)
    return [out[:n]]


def _run_nms(packed, params, inputs, outputs, scratch):
    node = params
    got = nms_fast(node, inputs)[0]
    if got.shape != outputs[0].shape:  # pragma: no cover - the plan computed the shape from the same values
        raise InputError(f"NonMaxSuppression selected {got.shape[0]} boxes, the plan expected {outputs[0].shape[0]}")
    outputs[0][...] = got


register_op(OpDef("NonMaxSuppression", _infer_nms, _ref_nms, data_dependent=True, run_dynamic=nms_fast))
register_algorithm(Algorithm("NonMaxSuppression", "numba", run=_run_nms, setup=lambda ctx: ctx.node,
                             applies=lambda ctx: all(np.dtype(d) == np.float32 for d in ctx.in_dtypes[:2]),
                             cost=lambda ctx: U.numel(ctx.in_shapes[1]) * 20 * U.NS_PER_ELEMENT / 1e3,
                             doc="heapsort by score, greedy IoU suppression per (batch, class)"))


# ----- RoiAlign ----------------------------------------------------------------------------------------
def _roi_attrs(node):
    mode = _str_attr(node, "mode", "avg")
    ctm = _str_attr(node, "coordinate_transformation_mode", "half_pixel")
    if mode not in ("avg", "max"):
        raise ShapeError(f"RoiAlign mode {mode!r} is not supported (avg, max)")
    if ctm not in ("half_pixel", "output_half_pixel"):
        raise ShapeError(f"RoiAlign coordinate_transformation_mode {ctm!r} is not supported")
    return (mode, ctm == "half_pixel", int(node.attrs.get("output_height", 1)), int(node.attrs.get("output_width", 1)),
            int(node.attrs.get("sampling_ratio", 0)), float(node.attrs.get("spatial_scale", 1.0)))


def _infer_roi_align(node, shapes, dtypes, consts):
    x, rois, bidx = tuple(shapes[0]), tuple(shapes[1]), tuple(shapes[2])
    _, _, oh, ow, sr, _ = _roi_attrs(node)
    if len(x) != 4 or len(rois) != 2 or rois[1] != 4 or bidx != rois[:1]:
        raise ShapeError(f"RoiAlign needs X [N, C, H, W], rois [R, 4], batch_indices [R], got {x}, {rois}, {bidx}")
    if oh < 1 or ow < 1 or sr < 0:
        raise ShapeError(f"RoiAlign output {oh}x{ow} / sampling_ratio {sr} must be positive")
    return [((rois[0], x[1], oh, ow), dtypes[0])]


def _check_batch_indices(bidx, n):
    b = np.asarray(bidx).astype(np.int64, copy=False).reshape(-1)
    if b.size and (b.min() < 0 or b.max() >= n):
        raise InputError(f"RoiAlign/MaxRoiPool batch index {int(b.min() if b.min() < 0 else b.max())} is outside "
                         f"0..{n - 1}")
    return b


def _roi_axis(start, bin_size, pooled, grid, size):
    """Per-sample (low, high, weight low, weight high) along one axis, samples ordered (bin, sample)."""
    pos = start + np.arange(pooled)[:, None] * bin_size + (np.arange(grid)[None, :] + 0.5) * bin_size / grid
    pos = pos.reshape(-1)
    inside = (pos >= -1.0) & (pos <= size)
    p = np.maximum(pos, 0.0)
    lo = np.minimum(np.floor(p).astype(np.int64), size - 1)
    at_end = np.floor(p) >= size - 1
    hi = np.where(at_end, lo, lo + 1)
    frac = np.where(at_end, 0.0, p - lo)
    return lo, hi, (1.0 - frac) * inside, frac * inside


def _ref_roi_align(node, x):
    a = np.asarray(x[0])
    rois = np.asarray(x[1], np.float64)
    mode, half_pixel, oh, ow, sr, scale = _roi_attrs(node)
    bidx = _check_batch_indices(x[2], a.shape[0])
    H, W = a.shape[2], a.shape[3]
    out = np.zeros((rois.shape[0], a.shape[1], oh, ow), np.float64)
    off = 0.5 if half_pixel else 0.0
    for r in range(rois.shape[0]):
        x0, y0, x1, y1 = rois[r] * scale - off
        rw, rh = x1 - x0, y1 - y0
        if not half_pixel:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sr if sr > 0 else int(np.ceil(rh / oh))
        gw = sr if sr > 0 else int(np.ceil(rw / ow))
        if gh * gw == 0:
            continue
        ylo, yhi, wyl, wyh = _roi_axis(y0, rh / oh, oh, gh, H)
        xlo, xhi, wxl, wxh = _roi_axis(x0, rw / ow, ow, gw, W)
        img = a[bidx[r]].astype(np.float64)
        corners = [img[:, ys[:, None], xs[None, :]] * (wy[:, None] * wx[None, :])
                   for ys, wy in ((ylo, wyl), (yhi, wyh)) for xs, wx in ((xlo, wxl), (xhi, wxh))]
        shape = (a.shape[1], oh, gh, ow, gw)
        if mode == "avg":
            out[r] = sum(corners).reshape(shape).sum(axis=(2, 4)) / (gh * gw)
        else:
            out[r] = np.max(corners, axis=0).reshape(shape).max(axis=(2, 4))
    return [out.astype(a.dtype)]


@dataclass(frozen=True)
class RoiAlignParams:
    """RoiAlign's attributes, as _roi_attrs reads them."""

    mode: str  # "avg" or "max"
    half_pixel: bool  # coordinate_transformation_mode half_pixel (else output_half_pixel)
    output_height: int
    output_width: int
    sampling_ratio: int
    spatial_scale: float


def _setup_roi_align(ctx):
    return RoiAlignParams(*_roi_attrs(ctx.node))


def _run_roi_align(packed, params: RoiAlignParams, inputs, outputs, scratch):
    x = inputs[0]
    bidx = _check_batch_indices(inputs[2], x.shape[0])
    K.roi_align(x, inputs[1], bidx, outputs[0], params.spatial_scale, params.sampling_ratio, params.half_pixel,
                params.mode == "max")


register_op(OpDef("RoiAlign", _infer_roi_align, _ref_roi_align))
register_algorithm(Algorithm("RoiAlign", "numba", run=_run_roi_align, setup=_setup_roi_align,
                             applies=lambda ctx: U.all_f32(ctx, (0, 1)),
                             cost=lambda ctx: U.numel(ctx.out_shapes[0]) * 16 * U.NS_PER_ELEMENT / 1e3,
                             doc="bilinear samples per bin, channel loop innermost"))


# ----- MaxRoiPool (numpy reference) --------------------------------------------------------------------
def _infer_max_roi_pool(node, shapes, dtypes, consts):
    x, rois = tuple(shapes[0]), tuple(shapes[1])
    pooled = node.attrs.get("pooled_shape")
    if pooled is None or len(pooled) != 2 or min(pooled) < 1:
        raise ShapeError(f"MaxRoiPool needs pooled_shape [h, w] of positive sizes, got {pooled}")
    if len(x) != 4 or len(rois) != 2 or rois[1] != 5:
        raise ShapeError(f"MaxRoiPool needs X [N, C, H, W] and rois [R, 5], got {x} and {rois}")
    return [((rois[0], x[1], int(pooled[0]), int(pooled[1])), dtypes[0])]


def _ref_max_roi_pool(node, x):
    """Fast R-CNN RoI pooling: roi corners rounded (half away from zero) after scaling, each bin the max
    over its (floor, ceil) pixel range clipped to the image; an empty bin gives 0."""
    a = np.asarray(x[0])
    rois = np.asarray(x[1], np.float64)
    ph, pw = (int(v) for v in node.attrs["pooled_shape"])
    scale = float(node.attrs.get("spatial_scale", 1.0))
    H, W = a.shape[2], a.shape[3]
    bidx = _check_batch_indices(rois[:, 0], a.shape[0])
    out = np.zeros((rois.shape[0], a.shape[1], ph, pw), a.dtype)
    for r in range(rois.shape[0]):
        x0, y0, x1, y1 = (int(np.sign(v) * np.floor(abs(v) + 0.5)) for v in rois[r, 1:] * scale)
        bh, bw = max(y1 - y0 + 1, 1) / ph, max(x1 - x0 + 1, 1) / pw
        for i in range(ph):
            hs = min(max(int(np.floor(i * bh)) + y0, 0), H)
            he = min(max(int(np.ceil((i + 1) * bh)) + y0, 0), H)
            for j in range(pw):
                ws = min(max(int(np.floor(j * bw)) + x0, 0), W)
                we = min(max(int(np.ceil((j + 1) * bw)) + x0, 0), W)
                if he > hs and we > ws:
                    out[r, :, i, j] = a[bidx[r], :, hs:he, ws:we].max(axis=(1, 2))
    return [out]


register_op(OpDef("MaxRoiPool", _infer_max_roi_pool, _ref_max_roi_pool))


# ----- GridSample --------------------------------------------------------------------------------------
# opset 16 names (bilinear, bicubic) and opset 20 names (linear, cubic)
_GS_MODES = {"nearest": K.MODE_NEAREST, "linear": K.MODE_LINEAR, "bilinear": K.MODE_LINEAR,
             "cubic": K.MODE_CUBIC, "bicubic": K.MODE_CUBIC}
_GS_PADS = {"zeros": K.PAD_ZEROS, "border": K.PAD_BORDER, "reflection": K.PAD_REFLECTION}


def _gs_attrs(node):
    mode = _str_attr(node, "mode", "linear")
    pad = _str_attr(node, "padding_mode", "zeros")
    if mode not in _GS_MODES:
        raise ShapeError(f"GridSample mode {mode!r} is not supported ({', '.join(_GS_MODES)})")
    if pad not in _GS_PADS:
        raise ShapeError(f"GridSample padding_mode {pad!r} is not supported ({', '.join(_GS_PADS)})")
    return _GS_MODES[mode], _GS_PADS[pad], int(node.attrs.get("align_corners", 0))


def _infer_grid_sample(node, shapes, dtypes, consts):
    x, grid = tuple(shapes[0]), tuple(shapes[1])
    _gs_attrs(node)
    r = len(x) - 2
    if r < 1 or len(grid) != r + 2 or grid[0] != x[0] or grid[-1] != r:
        raise ShapeError(f"GridSample needs X [N, C, D1..Dr] and grid [N, O1..Or, r], got {x} and {grid}")
    return [((x[0], x[1]) + grid[1:-1], dtypes[0])]


def _gs_reflect(v, lo, hi):
    span = hi - lo
    if span <= 0:
        return np.full_like(v, lo)
    below = v < lo
    d = np.where(below, lo - v, v - hi)
    k = np.floor(d / span)
    rest = d - k * span
    even = k % 2 == 0
    inside_from_low, inside_from_high = lo + rest, hi - rest
    moved = np.where(below, np.where(even, inside_from_low, inside_from_high),
                     np.where(even, inside_from_high, inside_from_low))
    return np.where((v < lo) | (v > hi), moved, v)


def _keys_cubic(t):
    """Keys' cubic convolution weights (A = -0.75) of taps -1, 0, 1, 2 for fraction t in [0, 1)."""
    A = -0.75

    def near(d):  # |d| <= 1
        return ((A + 2) * d - (A + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _gs_axis(g, size, align, mode, pad):
    """[(index, weight, valid)] per tap of one spatial dim for normalised coordinates g (float32)."""
    one, two = np.float32(1), np.float32(2)
    if align:
        v = (g + one) / two * np.float32(size - 1)
        lo, hi = 0.0, size - 1.0
    else:
        v = ((g + one) * np.float32(size) - one) / two
        lo, hi = -0.5, size - 0.5
    if mode == K.MODE_NEAREST:
        v = np.rint(v)
    if pad == K.PAD_BORDER:
        v = np.where((v < lo) | (v > hi), np.clip(v, 0, size - 1), v).astype(np.float32)
    elif pad == K.PAD_REFLECTION:
        v = _gs_reflect(v.astype(np.float64), lo, hi).astype(np.float32)
    if mode == K.MODE_NEAREST:
        taps = [(np.trunc(v).astype(np.int64), np.ones_like(v, np.float64))]
    else:
        f = np.floor(v)
        t = (v - f).astype(np.float64)
        base = f.astype(np.int64)
        if mode == K.MODE_LINEAR:
            taps = [(base, 1 - t), (base + 1, t)]
        else:
            taps = [(base - 1 + q, wq) for q, wq in enumerate(_keys_cubic(t))]
    out = []
    for i, w in taps:
        valid = (i >= 0) & (i < size)
        if pad == K.PAD_BORDER:
            i = np.clip(i, 0, size - 1)
        elif pad == K.PAD_REFLECTION:
            i = np.clip(np.trunc(_gs_reflect(i.astype(np.float64), lo, hi)).astype(np.int64), 0, size - 1)
        if pad != K.PAD_ZEROS:
            valid = np.ones_like(valid)
        out.append((np.where(valid, i, 0), w * valid))
    return out


def _ref_grid_sample(node, x):
    a = np.asarray(x[0])
    grid = np.asarray(x[1]).astype(np.float32)
    mode, pad, align = _gs_attrs(node)
    r = a.ndim - 2
    N, C = a.shape[:2]
    axes = [_gs_axis(grid[..., r - 1 - d], a.shape[2 + d], align, mode, pad) for d in range(r)]
    out = np.zeros((N, C) + grid.shape[1:-1], np.float64)
    data = a.astype(np.float64)
    n_idx = np.arange(N).reshape((N,) + (1,) * r)
    for combo in np.ndindex(*[len(t) for t in axes]):  # every tap combination: product of 1-D weights
        idx = [axes[d][q][0] for d, q in enumerate(combo)]
        wgt = np.prod([axes[d][q][1] for d, q in enumerate(combo)], axis=0)
        vals = data[(n_idx, slice(None), *idx)]  # [N, O..., C]: the advanced indices come first
        out += np.moveaxis(vals, -1, 1) * wgt[:, None]
    return [out.astype(a.dtype)]


@dataclass(frozen=True)
class GridSampleParams:
    """GridSample's kernel mode and padding codes, align_corners, and the number of spatial dims (2 or 3)."""

    mode: int  # K.MODE_*
    padding_mode: int  # K.PAD_*
    align_corners: int
    spatial_rank: int


def _setup_grid_sample(ctx):
    return GridSampleParams(*_gs_attrs(ctx.node), len(ctx.in_shapes[0]) - 2)


def _run_grid_sample(packed, params: GridSampleParams, inputs, outputs, scratch):
    r = params.spatial_rank
    idx = scratch[:8 * 4 * r].view(np.int64).reshape(r, 4)
    w = scratch[8 * 4 * r:12 * 4 * r].view(np.float32).reshape(r, 4)
    fn = K.grid_sample_2d if r == 2 else K.grid_sample_3d
    fn(inputs[0], inputs[1], outputs[0], params.mode, params.padding_mode, params.align_corners, idx, w)


register_op(OpDef("GridSample", _infer_grid_sample, _ref_grid_sample))
register_algorithm(Algorithm("GridSample", "numba", run=_run_grid_sample, setup=_setup_grid_sample,
                             applies=lambda ctx: U.all_f32(ctx) and len(ctx.in_shapes[0]) in (4, 5),
                             scratch_bytes=lambda ctx: 12 * 4 * (len(ctx.in_shapes[0]) - 2),
                             cost=lambda ctx: U.numel(ctx.out_shapes[0]) * 4 ** (len(ctx.in_shapes[0]) - 2)
                             * U.NS_PER_ELEMENT / 1e3,
                             doc="per output point: 1/2/4 taps per spatial dim, channel loop inside"))
