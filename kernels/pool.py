"""2-D pooling over NCHW float32 planes (x viewed as [N*C, H, W]).

Window bounds follow ONNX Runtime / PyTorch: a window starts at oh*stride - pad_top, is cut to the
padded extent (H + pad_bottom) for the count_include_pad divisor, then to the real image for the values;
with dilation the divisor counts the dilated taps that land there.
The mode branch sits outside the loops."""

import numpy as np

from ._jit import kernel
from .half import load, store

MAX, AVG = 0, 1


def scratch_floats(W, sw, OW):
    """pool2d's float32 scratch: the reduced input row, its phase-split copy and the output row."""
    return W + sw * (-(-W // sw)) + OW


@kernel
def pool2d(x, out, tmp, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, mode, include_pad):
    """x: [P, H, W], out: [P, OH, OW], tmp: float32 scratch of scratch_floats(W, sw, OW); mode MAX or AVG;
    include_pad: AVG divides by the window cut to the padded extent.
    Separable: for each output row the window's input rows are reduced into a row (contiguous,
    vectorised); that row is split by column phase (w = k*sw + phase), so every kernel column j reads a
    contiguous run of one phase and reduces it into the output row over the ow range where the tap is
    inside the image: no per-tap bounds tests, and the loops vectorise (a strided-tap version was 1.7x
    slower, a per-window one 8x). max() is a select, not an `if v > m` branch (which mispredicts on
    real data). MAX starts from the lowest finite float, not -inf (fastmath assumes no infinities).
    x and out may store fp16 (uint16 bits): rows are reduced in fp32 scratch and rounded once on store."""
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    WP = (W + sw - 1) // sw  # columns per phase
    row = tmp[:W]
    ph2 = tmp[W:W + sw * WP].reshape(sw, WP)
    acc = tmp[W + sw * WP:W + sw * WP + OW]  # the output row in fp32
    for p in range(P):
        for oh in range(OH):
            h0 = oh * sh - pt
            nh = 0
            for i in range(kh):
                h = h0 + i * dh
                if h < 0 or h >= H:
                    continue
                xr = x[p, h]
                if nh == 0:
                    for w in range(W):
                        row[w] = load(xr, w)
                elif mode == MAX:
                    for w in range(W):
                        row[w] = max(row[w], load(xr, w))
                else:
                    for w in range(W):
                        row[w] += load(xr, w)
                nh += 1
            orow = out[p, oh]
            init = np.float32(-3.4028234e38) if mode == MAX else np.float32(0.0)
            for ow in range(OW):
                acc[ow] = init
            if nh == 0:
                for ow in range(OW):
                    store(orow, ow, init)
                continue
            # Split the reduced row by column phase (w = k*sw + phase) so that each tap j reads a
            # contiguous run: tap j of output ow is column ow*sw + off = (ow + base)*sw + phase.
            for ph in range(sw):
                dst = ph2[ph]
                k = 0
                for w in range(ph, W, sw):
                    dst[k] = row[w]
                    k += 1
            for j in range(kw):
                off = j * dw - pl
                phase = off % sw
                base = (off - phase) // sw
                lo = max(0, -base)
                cnt = (W - 1 - phase) // sw + 1  # columns in this phase
                hi = min(OW, cnt - base)
                if hi <= lo:
                    continue
                src = ph2[phase, lo + base:hi + base]
                dst = acc[lo:hi]
                if mode == MAX:
                    for i in range(hi - lo):
                        dst[i] = max(dst[i], src[i])
                else:
                    for i in range(hi - lo):
                        dst[i] += src[i]
            if mode == AVG:
                # Divisor: taps inside the padded extent (include_pad) or inside the image, counted per
                # axis with the dilation (taps at w0 + j*dw); with dw = 1 these are the plain window spans.
                hp = min(kh, (H + pb - 1 - h0) // dh + 1)
                for ow in range(OW):
                    w0 = ow * sw - pl
                    if include_pad:
                        area = hp * min(kw, (W + pr - 1 - w0) // dw + 1)
                    else:
                        j_lo = 0 if w0 >= 0 else (dw - 1 - w0) // dw
                        j_hi = min(kw - 1, (W - 1 - w0) // dw)
                        area = nh * max(0, j_hi - j_lo + 1)
                    acc[ow] = acc[ow] / np.float32(area) if area > 0 else np.float32(0.0)
            for ow in range(OW):
                store(orow, ow, acc[ow])


@kernel
def global_pool(x, out, mode):
    """x: [P, HW] -> out: [P]; MAX or AVG (sum in float32, vectorised; F32 tier covers HW <= ~1e5).
    x and out may store fp16 (uint16 bits)."""
    P, n = x.shape
    for p in range(P):
        xr = x[p]
        if mode == MAX:
            m = np.float32(-np.inf)
            for i in range(n):
                v = load(xr, i)
                if v > m:
                    m = v
            store(out, p, m)
        else:
            s = np.float32(0.0)
            for i in range(n):
                s += load(xr, i)
            store(out, p, s / np.float32(n))
