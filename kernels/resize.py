"""Resize of NCHW float32 planes (x viewed as [P, H, W]) by precomputed per-axis index/weight tables.

The coordinate transform (half_pixel, asymmetric, align_corners, ...) and nearest rounding are done
once at plan time in jitmnn/ops/resize.py, which also checks every index is in range; the kernels only
gather (nearest) or blend two rows and two columns (bilinear). x and out may each store fp16 (uint16
bits, see half.py)."""

import numpy as np

from ._jit import kernel
from .half import load, store


@kernel
def resize_nearest(x, out, ih, iw):
    """out[p, oh, ow] = x[p, ih[oh], iw[ow]]; ih/iw are uint32 tables (unsigned: no wraparound checks).
    An output row whose source row equals the previous one's is a copy of it (upsampling repeats rows)."""
    P = x.shape[0]
    OH, OW = out.shape[1], out.shape[2]
    for p in range(P):
        for oh in range(OH):
            orow = out[p, oh]
            if oh > 0 and ih[oh] == ih[oh - 1]:
                prev = out[p, oh - 1]
                for ow in range(OW):
                    orow[ow] = prev[ow]
            else:
                xrow = x[p, ih[oh]]
                for ow in range(OW):
                    store(orow, ow, load(xrow, iw[ow]))


@kernel
def resize_bilinear(x, out, h0, h1, lh, w0, w1, lw):
    """Bilinear: rows h0/h1 with weight lh on h1, columns w0/w1 with weight lw on w1 (uint32 tables)."""
    P = x.shape[0]
    OH, OW = out.shape[1], out.shape[2]
    one = np.float32(1.0)
    for p in range(P):
        for oh in range(OH):
            ra = x[p, h0[oh]]
            rb = x[p, h1[oh]]
            orow = out[p, oh]
            fy = lh[oh]
            for ow in range(OW):
                fx = lw[ow]
                c0 = w0[ow]
                c1 = w1[ow]
                top = load(ra, c0) * (one - fx) + load(ra, c1) * fx
                bot = load(rb, c0) * (one - fx) + load(rb, c1) * fx
                store(orow, ow, top * (one - fy) + bot * fy)


@kernel
def resize_taps(x, out, row, ih, wh, iw, ww, mh, mw, fill):
    """General separable filter (cubic, antialiased linear/cubic, tf_crop_and_resize): output row oh is
    sum_t wh[oh, t] * x[p, ih[oh, t]] (blended into the fp32 scratch `row` of width W), then column ow is
    sum_t ww[ow, t] * row[iw[ow, t]]. ih/iw: uint32 [O, T] tables, wh/ww float32 [O, T]; rows/columns
    with mh[oh] / mw[ow] set take `fill` (extrapolation_value)."""
    P, W = x.shape[0], x.shape[2]
    OH, OW = out.shape[1], out.shape[2]
    Th, Tw = ih.shape[1], iw.shape[1]
    zero = np.float32(0.0)
    for p in range(P):
        for oh in range(OH):
            orow = out[p, oh]
            if mh[oh]:
                for ow in range(OW):
                    store(orow, ow, fill)
                continue
            for w in range(W):
                row[w] = zero
            for t in range(Th):
                wt = wh[oh, t]
                if wt == zero:
                    continue
                xr = x[p, ih[oh, t]]
                for w in range(W):
                    row[w] += wt * load(xr, w)
            for ow in range(OW):
                if mw[ow]:
                    store(orow, ow, fill)
                    continue
                acc = zero
                for t in range(Tw):
                    acc += ww[ow, t] * row[iw[ow, t]]
                store(orow, ow, acc)
