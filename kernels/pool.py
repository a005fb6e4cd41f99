"""2-D pooling over NCHW float32 planes (x viewed as [N*C, H, W]).

Window bounds follow ONNX Runtime / PyTorch: a window starts at oh*stride - pad_top, is cut to the
padded extent (H + pad_bottom) for the count_include_pad divisor, then to the real image for the values."""

import numpy as np

from ._jit import kernel

MAX, AVG = 0, 1


@kernel
def pool2d(x, out, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, mode, include_pad):
    """x: [P, H, W], out: [P, OH, OW]; mode MAX or AVG; include_pad: AVG divides by the padded window."""
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for p in range(P):
        for oh in range(OH):
            h0 = oh * sh - pt
            for ow in range(OW):
                w0 = ow * sw - pl
                if mode == MAX:
                    m = np.float32(-np.inf)
                    for i in range(kh):
                        h = h0 + i * dh
                        if 0 <= h < H:
                            for j in range(kw):
                                w = w0 + j * dw
                                if 0 <= w < W:
                                    v = x[p, h, w]
                                    if v > m:
                                        m = v
                    out[p, oh, ow] = m
                else:
                    h1 = min(h0 + kh, H + pb)
                    w1 = min(w0 + kw, W + pr)
                    area = (h1 - h0) * (w1 - w0)
                    hs = max(h0, 0)
                    ws = max(w0, 0)
                    he = min(h1, H)
                    we = min(w1, W)
                    if not include_pad:
                        area = (he - hs) * (we - ws)
                    s = np.float32(0.0)
                    for h in range(hs, he):
                        for w in range(ws, we):
                            s += x[p, h, w]
                    out[p, oh, ow] = s / np.float32(area) if area > 0 else np.float32(0.0)


@kernel
def global_pool(x, out, mode):
    """x: [P, HW] -> out: [P]; MAX or AVG (sum in float32, vectorised; F32 tier covers HW <= ~1e5)."""
    P, n = x.shape
    for p in range(P):
        if mode == MAX:
            m = np.float32(-np.inf)
            for i in range(n):
                v = x[p, i]
                if v > m:
                    m = v
            out[p] = m
        else:
            s = np.float32(0.0)
            for i in range(n):
                s += x[p, i]
            out[p] = s / np.float32(n)
