"""Resize reference: a scalar loop over every output pixel of a 4-D NCHW tensor (H and W resized), source
coordinates from the ONNX formulas evaluated in float32 (as ONNX Runtime does, so nearest ties agree), and
per axis the list of (input index, weight) taps: nearest, linear / cubic (Keys, cubic_coeff_a) with every
integer inside the filter's support, the support stretched by 1/scale with antialias; exclude_outside
drops outside taps and renormalises; tf_crop_and_resize extrapolates outside the input."""

import math

import numpy as np

F = np.float32


def _coord(ctm, x, out_len, in_len, scale, length, roi):
    """Source coordinate of output index x. length: ONNX's length_resized (in * scale with scales, else
    the output size). float32 like ONNX Runtime, except tf_crop_and_resize (float64, as ONNX's reference)."""
    if ctm == "half_pixel":
        return (F(x) + F(0.5)) / F(scale) - F(0.5)
    if ctm == "pytorch_half_pixel":
        return (F(x) + F(0.5)) / F(scale) - F(0.5) if out_len > 1 else F(0)
    if ctm == "align_corners":
        return F(0) if length == 1 else F(x) * F(in_len - 1) / F(length - 1)
    if ctm == "asymmetric":
        return F(x) / F(scale)
    if ctm == "tf_half_pixel_for_nn":
        return (F(x) + F(0.5)) / F(scale)
    if ctm == "half_pixel_symmetric":  # opset 19: half_pixel about the centre of the cropped output
        offset = F(in_len) / F(2) * (F(1) - F(out_len) / (F(scale) * F(in_len)))
        return offset + (F(x) + F(0.5)) / F(scale) - F(0.5)
    if ctm == "tf_crop_and_resize":
        start, end = roi
        if length == 1:
            return start * (in_len - 1) + (end - start) * (in_len - 1) / 2
        return start * (in_len - 1) + x * (end - start) * (in_len - 1) / (length - 1)
    raise ValueError(ctm)


def _nearest(c, mode, n):
    c = float(c)
    if mode == "floor":
        i = math.floor(c)
    elif mode == "ceil":
        i = math.ceil(c)
    elif c - math.floor(c) == 0.5:
        i = math.floor(c) if mode == "round_prefer_floor" else math.ceil(c)
    else:
        i = math.floor(c + 0.5)
    return min(max(i, 0), n - 1)


def _cubic(t, a):
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if t < 2:
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0.0


def _axis(attrs, o, out_len, in_len, scale, length, roi):
    """[(input index, weight)] for output index o along one axis, or None where it extrapolates."""
    mode = attrs.get("mode", "nearest")
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    c = float(_coord(ctm, o, out_len, in_len, scale, length, roi))
    if ctm == "tf_crop_and_resize" and not 0 <= c <= in_len - 1:
        return None
    if mode == "nearest":
        return [(_nearest(c, attrs.get("nearest_mode", "round_prefer_floor"), in_len), 1.0)]
    antialias = attrs.get("antialias", 0) and float(scale) < 1
    s = float(scale) if antialias else 1.0
    radius = 1.0 if mode == "linear" else 2.0
    kern = (lambda t: max(0.0, 1 - abs(t))) if mode == "linear" else (
        lambda t: _cubic(t, attrs.get("cubic_coeff_a", -0.75)))
    taps = []
    for t in range(math.floor(c - radius / s), math.ceil(c + radius / s) + 1):
        wgt = kern((t - c) * s)
        if wgt == 0.0:
            continue
        if attrs.get("exclude_outside", 0) and not 0 <= t < in_len:
            continue
        taps.append((min(max(t, 0), in_len - 1), wgt))
    if antialias or attrs.get("exclude_outside", 0):
        total = math.fsum(w for _, w in taps)
        taps = [(i, w / total) for i, w in taps]
    return taps


def _resize(attrs, x):
    a = np.asarray(x[0], np.float64)
    N, C, H, W = a.shape
    roi = x[1] if len(x) > 1 and x[1] is not None and np.size(x[1]) else None
    scales = x[2] if len(x) > 2 and x[2] is not None and np.size(x[2]) else None
    sizes = x[3] if len(x) > 3 and x[3] is not None else None
    axes = [v % 4 for v in attrs["axes"]] if attrs.get("axes") is not None else [0, 1, 2, 3]
    full_roi = [(0.0, 1.0)] * 4
    if roi is not None:
        for k, ax in enumerate(axes):
            full_roi[ax] = (float(roi[k]), float(roi[len(axes) + k]))
    policy = attrs.get("keep_aspect_ratio_policy", "stretch")
    shape = [N, C, H, W]
    if sizes is not None:
        want = dict(zip(axes, [int(v) for v in sizes]))
        if policy == "stretch":
            out = [want.get(d, shape[d]) for d in range(4)]
            sc = [F(out[d]) / F(shape[d]) for d in range(4)]
        else:
            pick = min if policy == "not_larger" else max
            r = pick(want[d] / shape[d] for d in axes)
            out = [int(r * shape[d] + 0.5) if d in want else shape[d] for d in range(4)]
            sc = [F(r) if d in want else F(1) for d in range(4)]
        lengths = out
    else:
        given = dict(zip(axes, [float(v) for v in scales]))
        sc = [F(given.get(d, 1.0)) for d in range(4)]
        out = [int(math.floor(F(shape[d]) * sc[d])) for d in range(4)]  # float32 product: 10 * 0.7f -> 7
        lengths = [shape[d] * float(sc[d]) for d in range(4)]
    if out[:2] != [N, C]:
        raise ValueError("this reference resizes H and W only")
    fill = attrs.get("extrapolation_value", 0.0)
    OH, OW = out[2], out[3]
    rows = [_axis(attrs, oh, OH, H, sc[2], lengths[2], full_roi[2]) for oh in range(OH)]
    cols = [_axis(attrs, ow, OW, W, sc[3], lengths[3], full_roi[3]) for ow in range(OW)]
    res = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            if rows[oh] is None or cols[ow] is None:
                res[:, :, oh, ow] = fill
                continue
            acc = np.zeros((N, C))
            for ih, wh in rows[oh]:
                for iw, ww in cols[ow]:
                    acc += wh * ww * a[:, :, ih, iw]
            res[:, :, oh, ow] = acc
    return [res]


REFERENCES = {"Resize": _resize}
