"""Resize of NCHW float32 planes (x viewed as [P, H, W]) by precomputed per-axis index/weight tables.

The coordinate transform (half_pixel, asymmetric, align_corners, ...) and nearest rounding are done
once at plan time in jitmnn/ops/resize.py, which also checks every index is in range; the kernels only
gather (nearest) or blend two rows and two columns (bilinear)."""

import numpy as np

from ._jit import kernel


@kernel
def resize_nearest(x, out, ih, iw):
    """out[p, oh, ow] = x[p, ih[oh], iw[ow]]."""
    P = x.shape[0]
    OH, OW = out.shape[1], out.shape[2]
    for p in range(P):
        for oh in range(OH):
            h = ih[oh]
            for ow in range(OW):
                out[p, oh, ow] = x[p, h, iw[ow]]


@kernel
def resize_bilinear(x, out, h0, h1, lh, w0, w1, lw):
    """Bilinear: rows h0/h1 with weight lh on h1, columns w0/w1 with weight lw on w1."""
    P = x.shape[0]
    OH, OW = out.shape[1], out.shape[2]
    one = np.float32(1.0)
    for p in range(P):
        for oh in range(OH):
            a = h0[oh]
            b = h1[oh]
            fy = lh[oh]
            for ow in range(OW):
                fx = lw[ow]
                c0 = w0[ow]
                c1 = w1[ow]
                top = x[p, a, c0] * (one - fx) + x[p, a, c1] * fx
                bot = x[p, b, c0] * (one - fx) + x[p, b, c1] * fx
                out[p, oh, ow] = top * (one - fy) + bot * fy
