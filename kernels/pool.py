"""2-D pooling over NCHW float32 planes (x viewed as [N*C, H, W]).

Window bounds follow ONNX Runtime / PyTorch: a window starts at oh*stride - pad_top, is cut to the
padded extent (H + pad_bottom) for the count_include_pad divisor, then to the real image for the values.
Loops run per output row over input rows (row slices, explicit 0 <= w < W tests the compiler can use to
drop Numba's negative-index wraparound), with the mode branch outside the loops."""

import numpy as np

from ._jit import kernel

MAX, AVG = 0, 1


@kernel
def pool2d(x, out, tmp, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, mode, include_pad):
    """x: [P, H, W], out: [P, OH, OW], tmp: float32 scratch of W; mode MAX or AVG; include_pad: AVG
    divides by the window cut to the padded extent. Separable: for each output row, the window's input
    rows are first reduced into tmp (contiguous, vectorised), then each kernel column j reduces a strided
    slice of tmp into the output row (ow range where tap j is inside the image, no per-tap bounds tests).
    Taps compare with max() (a select, not a branch: random data made the branch mispredict 3x)."""
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for p in range(P):
        xp = x[p]
        for oh in range(OH):
            orow = out[p, oh]
            h0 = oh * sh - pt
            nh = 0
            for i in range(kh):
                h = h0 + i * dh
                if h < 0 or h >= H:
                    continue
                xr = xp[h]
                if nh == 0:
                    for w in range(W):
                        tmp[w] = xr[w]
                elif mode == MAX:
                    for w in range(W):
                        tmp[w] = max(tmp[w], xr[w])
                else:
                    for w in range(W):
                        tmp[w] += xr[w]
                nh += 1
            init = np.float32(-np.inf) if mode == MAX else np.float32(0.0)
            for ow in range(OW):
                orow[ow] = init
            if nh > 0:
                for j in range(kw):
                    off = j * dw - pl
                    lo = 0 if off >= 0 else (-off + sw - 1) // sw
                    hi = min(OW, (W - 1 - off) // sw + 1) if W - 1 - off >= 0 else 0
                    if hi <= lo:
                        continue
                    src = tmp[lo * sw + off:(hi - 1) * sw + off + 1:sw]
                    dst = orow[lo:hi]
                    if mode == MAX:
                        for i in range(hi - lo):
                            dst[i] = max(dst[i], src[i])
                    else:
                        for i in range(hi - lo):
                            dst[i] += src[i]
            if mode == AVG:
                hp = min(h0 + kh, H + pb) - h0
                for ow in range(OW):
                    w0 = ow * sw - pl
                    if include_pad:
                        area = hp * (min(w0 + kw, W + pr) - w0)
                    else:
                        area = nh * (min(w0 + kw, W) - max(w0, 0))
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
