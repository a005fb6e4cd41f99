"""Resize reference: a scalar loop over every output pixel of a 4-D NCHW tensor, source coordinates from
the ONNX formulas evaluated in float32 (as ONNX Runtime does, so nearest ties agree), bilinear weights
from ONNX Runtime's clamped-coordinate rule."""

import math

import numpy as np

F = np.float32


def _coord(ctm, x, out_len, in_len, scale):
    if ctm == "half_pixel":
        return (F(x) + F(0.5)) / F(scale) - F(0.5)
    if ctm == "pytorch_half_pixel":
        return (F(x) + F(0.5)) / F(scale) - F(0.5) if out_len > 1 else F(0)
    if ctm == "align_corners":
        return F(0) if out_len == 1 else F(x) * F(in_len - 1) / F(out_len - 1)
    if ctm == "asymmetric":
        return F(x) / F(scale)
    if ctm == "tf_half_pixel_for_nn":
        return (F(x) + F(0.5)) / F(scale)
    if ctm == "half_pixel_symmetric":  # opset 19: half_pixel about the centre of the cropped output
        offset = F(in_len) / F(2) * (F(1) - F(out_len) / (F(scale) * F(in_len)))
        return offset + (F(x) + F(0.5)) / F(scale) - F(0.5)
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


def _resize(attrs, x):
    a = np.asarray(x[0], np.float64)
    N, C, H, W = a.shape
    scales = x[2] if len(x) > 2 and x[2] is not None and np.size(x[2]) else None
    sizes = x[3] if len(x) > 3 and x[3] is not None else None
    if attrs.get("axes") is not None:  # opset 18: scales/sizes for the listed axes only
        full = {a % 4: k for k, a in enumerate(attrs["axes"])}
        if sizes is not None:
            sizes = [sizes[full[d]] if d in full else a.shape[d] for d in range(4)]
        else:
            scales = [scales[full[d]] if d in full else 1.0 for d in range(4)]
    if sizes is not None:
        OH, OW = int(sizes[2]), int(sizes[3])
        sh, sw = F(OH) / F(H), F(OW) / F(W)
    else:
        sh, sw = F(scales[2]), F(scales[3])
        OH, OW = int(math.floor(H * float(sh))), int(math.floor(W * float(sw)))
    mode = attrs.get("mode", "nearest")
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    nmode = attrs.get("nearest_mode", "round_prefer_floor")
    out = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        ch = _coord(ctm, oh, OH, H, sh)
        for ow in range(OW):
            cw = _coord(ctm, ow, OW, W, sw)
            if mode == "nearest":
                out[:, :, oh, ow] = a[:, :, _nearest(ch, nmode, H), _nearest(cw, nmode, W)]
            else:
                y = min(max(float(ch), 0.0), H - 1.0)
                xx = min(max(float(cw), 0.0), W - 1.0)
                y0, x0 = int(math.floor(y)), int(math.floor(xx))
                y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
                fy, fx = y - y0, xx - x0
                out[:, :, oh, ow] = (a[:, :, y0, x0] * (1 - fy) * (1 - fx) + a[:, :, y0, x1] * (1 - fy) * fx
                                     + a[:, :, y1, x0] * fy * (1 - fx) + a[:, :, y1, x1] * fy * fx)
    return [out]


REFERENCES = {"Resize": _resize}
