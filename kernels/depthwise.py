"""Depthwise convolution (group == C == K): per channel, copy the input into a zero-padded plane in
scratch, then a branch-free direct loop (measured 1.5-1.9x faster than border checks, NUMBA_PROBE.md).

Two things make the loops vectorise (measured on this machine, 1 thread):
- all indices are uint64 into flat arrays: a signed index costs a negative-index wraparound check per
  element, which stops LLVM vectorising (stride-1 tap loop: 2.9 -> 0.3 ns per element);
- a horizontal stride s is removed at copy time: the padded row is stored as s phase planes
  (column col goes to phase col % s, position col // s), so every tap reads a unit-stride run.
3x3 kernels (MobileNet) do all nine taps in one pass per output row; other sizes go tap by tap."""

import numpy as np

from . import act
from ._jit import kernel


def plane_shape(H, W, OH, OW, kh, kw, ph, pw, sh, sw, dh, dw):
    """(rows, row length) of the padded, phase-split plane the kernel needs as scratch."""
    hp = max(H + ph, (OH - 1) * sh + (kh - 1) * dh + 1)
    wp = max(W + pw, (OW - 1) * sw + (kw - 1) * dw + 1)
    wq = -(-wp // sw)
    return hp, wq * sw


@kernel
def depthwise(x, w, bias, y, plane, ph, pw, sh, sw, dh, dw, code, p0, p1):
    """x [N, C, H, W], w [C, kh, kw], bias [C], y [N, C, OH, OW] (all C-contiguous float32); plane is
    scratch of plane_shape(...) (checked by the caller)."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    kh, kw = w.shape[1], w.shape[2]
    Wrow = plane.shape[1]
    Wq = Wrow // sw
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    pf = plane.reshape(-1)
    zero = np.float32(0.0)
    pf[:] = zero
    Wu = np.uint64(W)
    OWu = np.uint64(OW)
    swu = np.uint64(sw)
    fused3 = kh == 3 and kw == 3
    # Integer divisions hoisted out of the loops (a few tiny arrays per call): on 7x7 and 14x14 maps
    # the per-row div/mod otherwise cost more than the arithmetic.
    colofs = np.empty(kw, np.int64)
    for j in range(kw):
        colofs[j] = ((j * dw) % sw) * Wq + (j * dw) // sw
    ph_q0 = np.empty(sw, np.int64)
    ph_cnt = np.empty(sw, np.int64)
    ph_dst = np.empty(sw, np.int64)
    for phase in range(sw):
        q0 = (phase - pw) % sw
        ph_q0[phase] = q0
        ph_cnt[phase] = (W - q0 + sw - 1) // sw if q0 < W else 0
        ph_dst[phase] = phase * Wq + (pw + q0) // sw
    for n in range(N):
        for c in range(C):
            # padded copy of channel c, split into sw phases
            for r in range(H):
                prow = (ph + r) * Wrow
                xr = np.uint64(((n * C + c) * H + r) * W)
                if sw == 1:
                    d = np.uint64(prow + pw)
                    for q in range(Wu):
                        pf[d + q] = xf[xr + q]
                else:
                    for phase in range(sw):
                        cnt = np.uint64(ph_cnt[phase])
                        d = np.uint64(prow + ph_dst[phase])
                        s0 = xr + np.uint64(ph_q0[phase])
                        for t in range(cnt):
                            pf[d + t] = xf[s0 + swu * t]
            b = bias[c]
            for oh in range(OH):
                ob = np.uint64(((n * C + c) * OH + oh) * OW)
                r0 = oh * sh * Wrow
                if fused3:
                    r1 = r0 + dh * Wrow
                    r2 = r1 + dh * Wrow
                    c1 = colofs[1]
                    c2 = colofs[2]
                    o00, o01, o02 = np.uint64(r0), np.uint64(r0 + c1), np.uint64(r0 + c2)
                    o10, o11, o12 = np.uint64(r1), np.uint64(r1 + c1), np.uint64(r1 + c2)
                    o20, o21, o22 = np.uint64(r2), np.uint64(r2 + c1), np.uint64(r2 + c2)
                    w00, w01, w02 = w[c, 0, 0], w[c, 0, 1], w[c, 0, 2]
                    w10, w11, w12 = w[c, 1, 0], w[c, 1, 1], w[c, 1, 2]
                    w20, w21, w22 = w[c, 2, 0], w[c, 2, 1], w[c, 2, 2]
                    for ow in range(OWu):
                        yf[ob + ow] = (b + w00 * pf[o00 + ow] + w01 * pf[o01 + ow] + w02 * pf[o02 + ow]
                                       + w10 * pf[o10 + ow] + w11 * pf[o11 + ow] + w12 * pf[o12 + ow]
                                       + w20 * pf[o20 + ow] + w21 * pf[o21 + ow] + w22 * pf[o22 + ow])
                else:
                    for ow in range(OWu):
                        yf[ob + ow] = b
                    for i in range(kh):
                        ri = r0 + i * dh * Wrow
                        for j in range(kw):
                            o = np.uint64(ri + colofs[j])
                            wv = w[c, i, j]
                            for ow in range(OWu):
                                yf[ob + ow] += wv * pf[o + ow]
                if code == 1:
                    for ow in range(OWu):
                        v = yf[ob + ow]
                        yf[ob + ow] = v if v > zero else zero
                elif code == 2:
                    for ow in range(OWu):
                        yf[ob + ow] = min(max(yf[ob + ow], p0), p1)
                elif code != 0:
                    for ow in range(OWu):
                        yf[ob + ow] = act.apply(yf[ob + ow], code, p0, p1)
