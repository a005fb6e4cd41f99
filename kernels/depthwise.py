"""Depthwise convolution (group == C == K): per channel, copy the input into a zero-padded plane in
scratch, then a branch-free direct loop (measured 1.5-1.9x faster than border checks, NUMBA_PROBE.md).

Two things make the loops vectorise (measured on this machine, 1 thread):
- all indices are uint64 into flat arrays: a signed index costs a negative-index wraparound check per
  element, which stops LLVM vectorising (stride-1 tap loop: 2.9 -> 0.3 ns per element);
- strides are removed at copy time: a padded row is stored as s phase runs (column col goes to phase
  col % s, position col // s), and the rows likewise by vertical phase, so every tap reads a unit-stride
  run and consecutive output rows read consecutive stored rows: each tap is one loop over the whole plane.
3x3 kernels (MobileNet) do all nine taps in one pass over the plane, kw=5 (PP-OCR) one pass per kernel
row; other sizes go tap by tap.
Integer divisions are hoisted into small per-call tables (on 7x7 maps they cost more than the math)."""

import numpy as np
from numba import prange

from . import act
from ._jit import kernel
from .half import load, store


def plane_shape(H, W, OH, OW, kh, kw, ph, pw, sh, sw, dh, dw):
    """(rows, row length) of the scratch the kernel needs per thread: the padded plane, rows and columns
    split by stride phase (rows rounded up to a multiple of sh), then OH fp32 output rows."""
    hp = max(H + ph, (OH - 1) * sh + (kh - 1) * dh + 1)
    wp = max(W + pw, (OW - 1) * sw + (kw - 1) * dw + 1)
    hq = -(-hp // sh)
    wq = -(-wp // sw)
    return hq * sh + OH, wq * sw


@kernel
def _tables(W, kw, pw, sw, dw, Wq):
    """Column offset of each tap in the phase-split row, and per phase: first x column, count, dest."""
    t = np.empty((max(kw, 1) + 3 * sw,), np.int64)
    for j in range(kw):
        t[j] = ((j * dw) % sw) * Wq + (j * dw) // sw
    for phase in range(sw):
        q0 = (phase - pw) % sw
        t[kw + 3 * phase] = q0
        t[kw + 3 * phase + 1] = (W - q0 + sw - 1) // sw if q0 < W else 0
        t[kw + 3 * phase + 2] = phase * Wq + (pw + q0) // sw
    return t


@kernel
def _channel(xf, w, b, yf, pf, nc, c, H, W, OH, OW, ph, sh, sw, dh, Wrow, plane_rows, tab, code, p0, p1):
    """One (image, channel) plane: nc = n*C + c indexes x/y planes, c the weight; pf is this thread's
    plane whose padding border is already zero."""
    kh, kw = w.shape[1], w.shape[2]
    zero = np.float32(0.0)
    OWu = np.uint64(OW)
    swu = np.uint64(sw)
    hq = (plane_rows - OH) // sh  # rows per vertical phase: padded row p is stored at (p % sh) * hq + p // sh
    ab = np.uint64((plane_rows - OH) * Wrow)  # the rows after the plane: staging, then the fp32 output
    for r in range(H):
        pr = ph + r
        prow = ((pr % sh) * hq + pr // sh) * Wrow
        xr = np.uint64((nc * H + r) * W)
        if sw == 1:
            d = np.uint64(prow + tab[kw + 2])
            for q in range(np.uint64(W)):
                pf[d + q] = load(xf, xr + q)
        else:  # widen the row contiguously into the spare row first: a strided fp16 gather is 2x slower
            for q in range(np.uint64(W)):
                pf[ab + q] = load(xf, xr + q)
            for phase in range(sw):
                s0 = ab + np.uint64(tab[kw + 3 * phase])
                d = np.uint64(prow + tab[kw + 3 * phase + 2])
                for t in range(np.uint64(tab[kw + 3 * phase + 1])):
                    pf[d + t] = pf[s0 + swu * t]
    # The whole output plane is one flat run per tap: with rows stored by vertical phase, output row oh + 1
    # reads the plane row after the one row oh reads, for every tap, so a tap is one long loop over
    # OH rows of Wrow (the Wrow - OW columns between rows are computed and dropped). Row by row, short rows
    # (14x14, 7x7 maps) never reached the vectorised loop body: 8-15 ns per output, measured.
    n = np.uint64((OH - 1) * Wrow + OW)
    if kh == 3 and kw == 3:
        r1 = ((dh % sh) * hq + dh // sh) * Wrow
        r2 = (((2 * dh) % sh) * hq + (2 * dh) // sh) * Wrow
        c1, c2 = tab[1], tab[2]
        o00, o01, o02 = np.uint64(0), np.uint64(c1), np.uint64(c2)
        o10, o11, o12 = np.uint64(r1), np.uint64(r1 + c1), np.uint64(r1 + c2)
        o20, o21, o22 = np.uint64(r2), np.uint64(r2 + c1), np.uint64(r2 + c2)
        w00, w01, w02 = w[c, 0, 0], w[c, 0, 1], w[c, 0, 2]
        w10, w11, w12 = w[c, 1, 0], w[c, 1, 1], w[c, 1, 2]
        w20, w21, w22 = w[c, 2, 0], w[c, 2, 1], w[c, 2, 2]
        for q in range(n):
            pf[ab + q] = (b + w00 * pf[o00 + q] + w01 * pf[o01 + q] + w02 * pf[o02 + q]
                          + w10 * pf[o10 + q] + w11 * pf[o11 + q] + w12 * pf[o12 + q]
                          + w20 * pf[o20 + q] + w21 * pf[o21 + q] + w22 * pf[o22 + q])
    elif kw == 5:
        # one pass per kernel row (5 taps), the PP-OCR 5x5 case: 5 output passes instead of 25
        for q in range(n):
            pf[ab + q] = b
        for i in range(kh):
            ri = (((i * dh) % sh) * hq + (i * dh) // sh) * Wrow
            q0, q1, q2 = np.uint64(ri + tab[0]), np.uint64(ri + tab[1]), np.uint64(ri + tab[2])
            q3, q4 = np.uint64(ri + tab[3]), np.uint64(ri + tab[4])
            v0, v1, v2, v3, v4 = w[c, i, 0], w[c, i, 1], w[c, i, 2], w[c, i, 3], w[c, i, 4]
            for q in range(n):
                pf[ab + q] += (v0 * pf[q0 + q] + v1 * pf[q1 + q] + v2 * pf[q2 + q]
                               + v3 * pf[q3 + q] + v4 * pf[q4 + q])
    else:
        for q in range(n):
            pf[ab + q] = b
        for i in range(kh):
            ri = (((i * dh) % sh) * hq + (i * dh) // sh) * Wrow
            for j in range(kw):
                o = np.uint64(ri + tab[j])
                wv = w[c, i, j]
                for q in range(n):
                    pf[ab + q] += wv * pf[o + q]
    # activation while each row moves to y (which may store fp16); inline, not via epilogue.bias_act_rows:
    # a call and two slices per row made MobileNetV2's depthwise layers 1.5x slower (7x7: 13 -> 21 ns/output)
    for r in range(OH):
        ob = np.uint64((nc * OH + r) * OW)
        a = ab + np.uint64(r * Wrow)
        if code == 0:
            for ow in range(OWu):
                store(yf, ob + ow, pf[a + ow])
        elif code == 1:
            for ow in range(OWu):
                store(yf, ob + ow, max(pf[a + ow], zero))
        elif code == 2:
            for ow in range(OWu):
                store(yf, ob + ow, min(max(pf[a + ow], p0), p1))
        elif code == act.HARDSWISH:  # spelled out: through act.apply's switch it did not vectorise (3x slower)
            for ow in range(OWu):
                store(yf, ob + ow, act.hardswish(pf[a + ow]))
        elif code == act.HARDSIGMOID:
            for ow in range(OWu):
                store(yf, ob + ow, act.hardsigmoid(pf[a + ow], p0, p1))
        else:
            for ow in range(OWu):
                store(yf, ob + ow, act.apply(pf[a + ow], code, p0, p1))


@kernel
def depthwise(x, w, bias, y, plane, ph, pw, sh, sw, dh, dw, code, p0, p1):
    """x [N, C, H, W], w [C, kh, kw], bias [C], y [N, C, OH, OW] (C-contiguous float32); plane is
    [rows, row length] scratch of plane_shape(...) (checked by the caller)."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    Wrow = plane.shape[1]
    tab = _tables(W, w.shape[2], pw, sw, dw, Wrow // sw)
    pf = plane.reshape(-1)
    pf[:] = np.float32(0.0)
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    for nc in range(N * C):
        c = nc % C
        _channel(xf, w, bias[c], yf, pf, nc, c, H, W, OH, OW, ph, sh, sw, dh, Wrow, plane.shape[0], tab, code,
                 p0, p1)


@kernel(parallel=True)
def depthwise_parallel(x, w, bias, y, planes, ph, pw, sh, sw, dh, dw, code, p0, p1):
    """depthwise() with the (image, channel) planes split into planes.shape[0] contiguous chunks, one
    per thread, each with its own padded plane."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    Wrow = planes.shape[2]
    tab = _tables(W, w.shape[2], pw, sw, dw, Wrow // sw)
    nt = planes.shape[0]
    total = N * C
    chunk = (total + nt - 1) // nt
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    for t in prange(nt):
        pf = planes[t].reshape(-1)
        pf[:] = np.float32(0.0)
        for nc in range(t * chunk, min(total, (t + 1) * chunk)):
            c = nc % C
            _channel(xf, w, bias[c], yf, pf, nc, c, H, W, OH, OW, ph, sh, sw, dh, Wrow, planes.shape[1], tab, code,
                     p0, p1)
