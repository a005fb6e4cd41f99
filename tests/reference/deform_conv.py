"""DeformConv reference: scalar loops over every output pixel, input channel and tap; each tap's sample is
the four-corner bilinear blend written out, corners outside the image counting zero (GridSample with
align_corners=1 and zero padding, as ONNX specifies)."""

import math

import numpy as np


def _sample(plane, y, x):
    H, W = plane.shape
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.0
    for yy in (y0, y0 + 1):
        for xx in (x0, x0 + 1):
            if 0 <= yy < H and 0 <= xx < W:
                total += (1 - abs(y - yy)) * (1 - abs(x - xx)) * plane[yy, xx]
    return total


def deform_conv(attrs, inputs):
    x, w, off = (np.asarray(a, np.float64) for a in inputs[:3])
    b = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    mask = inputs[4] if len(inputs) > 4 and inputs[4] is not None else None
    N, C, H, W = x.shape
    K, Cg, kh, kw = w.shape
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    pt, pl, _, _ = attrs.get("pads", [0, 0, 0, 0])
    og = attrs.get("offset_group", 1)
    Kg = K // (C // Cg)
    OH, OW = off.shape[2:]
    y = np.zeros((N, K, OH, OW))
    for n in range(N):
        for k in range(K):
            gi = k // Kg
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0 if b is None else float(b[k])
                    for cc in range(Cg):
                        c = gi * Cg + cc
                        g = c // (C // og)
                        for i in range(kh):
                            for j in range(kw):
                                t = i * kw + j
                                sy = oh * sh - pt + i * dh + off[n, (g * kh * kw + t) * 2, oh, ow]
                                sx = ow * sw - pl + j * dw + off[n, (g * kh * kw + t) * 2 + 1, oh, ow]
                                m = 1.0 if mask is None else float(mask[n, g * kh * kw + t, oh, ow])
                                acc += w[k, cc, i, j] * m * _sample(x[n, c], sy, sx)
                    y[n, k, oh, ow] = acc
    return [y]


REFERENCES = {"DeformConv": deform_conv}
