"""2-D pooling over NCHW float32 planes (x viewed as [N*C, H, W]).

Window bounds follow ONNX Runtime / PyTorch: a window starts at oh*stride - pad_top, is cut to the
padded extent (H + pad_bottom) for the count_include_pad divisor, then to the real image for the values.
Loops run per output row over input rows (row slices, explicit 0 <= w < W tests the compiler can use to
drop Numba's negative-index wraparound), with the mode branch outside the loops."""

import numpy as np

from ._jit import kernel

MAX, AVG = 0, 1


@kernel
def pool2d(x, out, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, mode, include_pad):
    """x: [P, H, W], out: [P, OH, OW]; mode MAX or AVG; include_pad: AVG divides by the padded window."""
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for p in range(P):
        xp = x[p]
        for oh in range(OH):
            orow = out[p, oh]
            h0 = oh * sh - pt
            if mode == MAX:
                for ow in range(OW):
                    orow[ow] = np.float32(-np.inf)
                for i in range(kh):
                    h = h0 + i * dh
                    if h < 0 or h >= H:
                        continue
                    xrow = xp[h]
                    for ow in range(OW):
                        w0 = ow * sw - pl
                        m = orow[ow]
                        for j in range(kw):
                            w = w0 + j * dw
                            if w >= 0 and w < W:
                                v = xrow[w]
                                if v > m:
                                    m = v
                        orow[ow] = m
            else:
                for ow in range(OW):
                    orow[ow] = np.float32(0.0)
                hs = max(h0, 0)
                he = min(h0 + kh, H)
                for h in range(hs, he):
                    xrow = xp[h]
                    for ow in range(OW):
                        w0 = ow * sw - pl
                        ws = max(w0, 0)
                        we = min(w0 + kw, W)
                        s = orow[ow]
                        for w in range(ws, we):
                            s += xrow[w]
                        orow[ow] = s
                hp = min(h0 + kh, H + pb) - h0
                for ow in range(OW):
                    w0 = ow * sw - pl
                    if include_pad:
                        area = hp * (min(w0 + kw, W + pr) - w0)
                    else:
                        area = (he - hs) * (min(w0 + kw, W) - max(w0, 0))
                    orow[ow] = orow[ow] / np.float32(area) if area > 0 else np.float32(0.0)


@kernel
def global_pool(x, out, mode):
    """x: [P, HW] -> out: [P]; MAX or AVG (sum in float32, vectorised; F32 tier covers HW <= ~1e5)."""
    P, n = x.shape
    for p in range(P):
        xr = x[p]
        if mode == MAX:
            m = np.float32(-np.inf)
            for i in range(n):
                v = xr[i]
                if v > m:
                    m = v
            out[p] = m
        else:
            s = np.float32(0.0)
            for i in range(n):
                s += xr[i]
            out[p] = s / np.float32(n)
