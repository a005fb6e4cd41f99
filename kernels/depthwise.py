"""Depthwise convolution (group == C == K): per channel, copy the input into a zero-padded plane in
scratch, then a branch-free direct loop (measured 1.5-1.9x faster than border checks, NUMBA_PROBE.md)."""

import numpy as np

from . import act
from ._jit import kernel


@kernel
def depthwise(x, w, bias, y, pad_plane, ph, pw, sh, sw, dh, dw, code, p0, p1):
    """x [N, C, H, W], w [C, kh, kw], bias [C], y [N, C, OH, OW]; pad_plane is [Hp, Wp] scratch with
    Hp >= H + ph + bottom padding needed, Wp likewise (checked by the caller)."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    kh, kw = w.shape[1], w.shape[2]
    Hp, Wp = pad_plane.shape
    zero = np.float32(0.0)
    for r in range(Hp):
        for q in range(Wp):
            pad_plane[r, q] = zero
    for n in range(N):
        for c in range(C):
            for r in range(H):
                for q in range(W):
                    pad_plane[ph + r, pw + q] = x[n, c, r, q]
            b = bias[c]
            for oh in range(OH):
                for ow in range(OW):
                    y[n, c, oh, ow] = b
                for i in range(kh):
                    row = oh * sh + i * dh
                    for j in range(kw):
                        wv = w[c, i, j]
                        col = j * dw
                        for ow in range(OW):
                            y[n, c, oh, ow] += wv * pad_plane[row, ow * sw + col]
                if code != 0:
                    for ow in range(OW):
                        y[n, c, oh, ow] = act.apply(y[n, c, oh, ow], code, p0, p1)
