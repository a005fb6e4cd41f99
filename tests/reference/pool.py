"""Pooling references: scalar loops over every output pixel and every window tap, float64 sums.
Semantics (ONNX Runtime / PyTorch): a window starts at o*stride - pad_begin; count_include_pad divides by
the window cut to the padded extent; ceil_mode drops a last window that starts in the end padding."""

import math

import numpy as np


def _out_len(n, k, s, d, pb, pe, ceil_mode):
    ek = (k - 1) * d + 1
    if ceil_mode:
        o = math.ceil((n + pb + pe - ek) / s) + 1
        if (o - 1) * s >= n + pb:
            o -= 1
        return o
    return (n + pb + pe - ek) // s + 1


def _pool(attrs, x, is_max):
    x = np.asarray(x, np.float64)
    if x.ndim == 3:  # 1-D pooling as 2-D with a unit height
        a = dict(attrs)
        a["kernel_shape"] = [1] + list(attrs["kernel_shape"])
        a["strides"] = [1] + list(attrs.get("strides", [1]))
        a["dilations"] = [1] + list(attrs.get("dilations", [1]))
        p = attrs.get("pads", [0, 0])
        a["pads"] = [0, p[0], 0, p[1]]
        return [_pool(a, x[:, :, None, :], is_max)[0][:, :, 0, :]]
    N, C, H, W = x.shape
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    ceil_mode = attrs.get("ceil_mode", 0)
    if attrs.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for n, k, st, d in ((H, kh, sh, dh), (W, kw, sw, dw)):
            total = max(0, (math.ceil(n / st) - 1) * st + (k - 1) * d + 1 - n)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if attrs["auto_pad"] == "SAME_UPPER" else (big, small))
        (pt, pb), (pl, pr) = pads
    include = attrs.get("count_include_pad", 0)
    OH = _out_len(H, kh, sh, dh, pt, pb, ceil_mode)
    OW = _out_len(W, kw, sw, dw, pl, pr, ceil_mode)
    out = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h0, w0 = oh * sh - pt, ow * sw - pl
                    vals = []
                    for i in range(kh):
                        for j in range(kw):
                            h, w = h0 + i * dh, w0 + j * dw
                            if 0 <= h < H and 0 <= w < W:
                                vals.append(x[n, c, h, w])
                    if is_max:
                        out[n, c, oh, ow] = max(vals)
                    else:
                        if include:
                            area = (min(h0 + kh, H + pb) - h0) * (min(w0 + kw, W + pr) - w0)
                        else:
                            area = len(vals)
                        out[n, c, oh, ow] = sum(vals) / area
    return [out]


def _global(x, fn):
    x = np.asarray(x, np.float64)
    out = np.zeros(x.shape[:2] + (1,) * (x.ndim - 2))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[n, c] = fn(x[n, c].ravel().tolist())
    return [out]


def _lppool(attrs, x):
    a = np.asarray(x[0], np.float64)
    N, C, H, W = a.shape
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", [1, 1])
    pt, pl, pb, pr = attrs.get("pads", [0, 0, 0, 0])
    p = attrs.get("p", 2)
    OH, OW = (H + pt + pb - kh) // sh + 1, (W + pl + pr - kw) // sw + 1
    out = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            h, w = oh * sh - pt + i, ow * sw - pl + j
                            if 0 <= h < H and 0 <= w < W:
                                acc += abs(a[n, c, h, w]) ** p
                    out[n, c, oh, ow] = acc ** (1 / p)
    return [out]


REFERENCES = {
    "LpPool": _lppool,
    "MaxPool": lambda attrs, x: _pool(attrs, x[0], True),
    "AveragePool": lambda attrs, x: _pool(attrs, x[0], False),
    "GlobalAveragePool": lambda attrs, x: _global(x[0], lambda v: math.fsum(v) / len(v)),
    "GlobalMaxPool": lambda attrs, x: _global(x[0], max),
}
