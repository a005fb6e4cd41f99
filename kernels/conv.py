"""im2col for tiled GEMM convolution, and col2im for ConvTranspose. One image (one group) at a time:
x is [C, H, W] C-contiguous; a column p of the im2col matrix is output pixel (p // OW, p % OW)."""

import numpy as np

from ._jit import helper, kernel
from .half import load


@helper
def row_segments(p0, n, width):
    """The flat pixels [p0, p0 + n) of a [rows, width] plane cut at row ends: one row per segment,
    (row, first column, end column, tile column of (row, 0))."""
    seg = np.empty(((p0 + n - 1) // width - p0 // width + 1, 4), np.int64)
    p = p0
    k = 0
    while p < p0 + n:
        r = p // width
        c0 = p - r * width
        c1 = min(width, c0 + (p0 + n - p))
        seg[k, 0], seg[k, 1], seg[k, 2], seg[k, 3] = r, c0, c1, p - p0 - c0
        p += c1 - c0
        k += 1
    return seg


@helper
def tap_ranges(k, d, pad, stride, size):
    """Per tap j of a k-tap window (dilation d, padding pad): [lo, hi) of the positions q whose tap
    q * stride - pad + j * d lands inside [0, size)."""
    lo = np.empty(k, np.int64)
    hi = np.empty(k, np.int64)
    for j in range(k):
        off = j * d - pad
        lo[j] = 0 if off >= 0 else (-off + stride - 1) // stride
        hi[j] = (size - 1 - off) // stride + 1 if size - 1 - off >= 0 else 0
    return lo, hi


@kernel
def im2col_tile(x, cols, col0, ncols, OW, kh, kw, sh, sw, ph, pw, dh, dw):
    """cols[(c*kh + i)*kw + j, p - col0] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside), for the
    output pixels p in [col0, col0 + ncols). x may store fp16 (uint16 bits); cols are always float32.
    A pointwise conv copies one run per channel; stride 1 with the output as wide as the input goes to
    _im2col_same_width (which would also cover the pointwise case, at 2.5x its time: 30 vs 13 us per
    14x14x384 tile, measured). Otherwise the tile is cut into output-row segments once; per segment and tap
    the valid ow range is known, so copies have no branches. Indices are uint64 into flat arrays (a signed
    index costs a wraparound check per element and blocks vectorising: measured 4x)."""
    C, H, W = x.shape
    xf = x.reshape(-1)
    cf = cols.reshape(-1)
    zero = np.float32(0.0)
    if kh == 1 and kw == 1 and sh == 1 and sw == 1 and ph == 0 and pw == 0:
        # a pointwise conv's columns are the input rows themselves: one contiguous run per channel
        # (row segments would cut it at every image row: 2.6 ns per element at 14x14, measured)
        for c in range(C):
            src = np.uint64(c * H * W + col0)
            d = np.uint64(c * ncols)
            for t in range(np.uint64(ncols)):
                cf[d + t] = load(xf, src + t)
        return
    if sh == 1 and sw == 1 and OW == W:
        _im2col_same_width(xf, cf, C, H, W, col0, ncols, kh, kw, ph, pw, dh, dw)
        return
    seg = row_segments(col0, ncols, OW)  # output-row segments of this tile
    jlo, jhi = tap_ranges(kw, dw, pw, sw, W)  # per horizontal tap: the ow range inside the row
    nseg = seg.shape[0]
    swu = np.uint64(sw)
    for c in range(C):
        for i in range(kh):
            for s in range(nseg):
                oh, ow0, ow1, base = seg[s, 0], seg[s, 1], seg[s, 2], seg[s, 3]
                ih = oh * sh - ph + i * dh
                for j in range(kw):
                    rbase = ((c * kh + i) * kw + j) * ncols + base
                    if ih < 0 or ih >= H:
                        d = np.uint64(rbase + ow0)
                        for t in range(np.uint64(ow1 - ow0)):
                            cf[d + t] = zero
                        continue
                    lo = min(max(jlo[j], ow0), ow1)
                    hi = min(max(jhi[j], lo), ow1)
                    d = np.uint64(rbase + ow0)
                    for t in range(np.uint64(lo - ow0)):
                        cf[d + t] = zero
                    d = np.uint64(rbase + lo)
                    src = np.uint64((c * H + ih) * W + lo * sw + j * dw - pw)
                    if sw == 1:
                        for t in range(np.uint64(hi - lo)):
                            cf[d + t] = load(xf, src + t)
                    else:
                        for t in range(np.uint64(hi - lo)):
                            cf[d + t] = load(xf, src + swu * t)
                    d = np.uint64(rbase + hi)
                    for t in range(np.uint64(ow1 - hi)):
                        cf[d + t] = zero


@helper
def _zero_column(cf, rbase, k, W, v0, v1):
    """cf[rbase + p] = 0 for the pixels p = oh*W + k in [v0, v1) (one image column of a tap row)."""
    if v1 - 1 - k < 0:
        return
    first = (v0 - k + W - 1) // W
    last = (v1 - 1 - k) // W
    if last < first:
        return
    base = np.uint64(rbase + first * W + k)
    step = np.uint64(W)
    for t in range(np.uint64(last - first + 1)):
        cf[base + step * t] = np.float32(0.0)


@kernel
def _im2col_same_width(xf, cf, C, H, W, col0, ncols, kh, kw, ph, pw, dh, dw):
    """im2col_tile for stride 1 with output width == input width (the usual padded 3x3): tap (i, j) of
    pixel p reads input p + (i*dh - ph)*W + (j*dw - pw), a constant offset. So each tap row of the tile
    is one contiguous copy over the pixels whose input row exists, then the few columns whose input column
    falls outside the image (left of tap j: pw - j*dw of them; right: j*dw - pw) are zeroed row by row.
    Per-row segments cost ~2.3 ns per element on 7x7 maps (measured) against ~0.4 on 56x56."""
    zero = np.float32(0.0)
    for c in range(C):
        cbase = c * H * W
        for i in range(kh):
            oh_lo = max(0, ph - i * dh)
            oh_hi = H + ph - i * dh  # the tile itself holds only real output rows
            v0 = max(col0, oh_lo * W)  # tile pixels whose input row exists
            v1 = max(v0, min(col0 + ncols, oh_hi * W))
            for j in range(kw):
                rbase = ((c * kh + i) * kw + j) * ncols - col0  # cf index of pixel p: rbase + p
                off = (i * dh - ph) * W + (j * dw - pw)
                a = min(max(v0, -off), v1)  # keep the source index inside this channel
                b = max(min(v1, H * W - off), a)
                for t in range(np.uint64(a - col0)):
                    cf[np.uint64(rbase + col0) + t] = zero
                d = np.uint64(rbase + a)
                src = np.uint64(cbase + a + off)
                for t in range(np.uint64(b - a)):
                    cf[d + t] = load(xf, src + t)
                d = np.uint64(rbase + b)
                for t in range(np.uint64(col0 + ncols - b)):
                    cf[d + t] = zero
                # columns ow < pw - j*dw read left of the image, ow >= W - (j*dw - pw) right of it:
                # per such column, a strided pass down the tile's rows
                for k in range(min(W, max(0, pw - j * dw))):
                    _zero_column(cf, rbase, k, W, v0, v1)
                for k in range(max(0, W - max(0, j * dw - pw)), W):
                    _zero_column(cf, rbase, k, W, v0, v1)


@kernel
def col2im_tile(cols, y, col0, ncols, W, kh, kw, sh, sw, ph, pw, dh, dw, accumulate):
    """ConvTranspose scatter: for input pixels p in [col0, col0 + ncols) (ih = p // W, iw = p % W),
    y[k, ih*sh - ph + i*dh, iw*sw - pw + j*dw] += cols[(k*kh + i)*kw + j, p - col0] where inside y.
    accumulate=False stores instead of adding: valid only when taps never overlap (kernel == stride,
    the upsampling case), so y needs no zeroing first. Flat uint64 indices (no wraparound checks)."""
    K, OH, OW = y.shape
    cf = cols.reshape(-1)
    yf = y.reshape(-1)
    swu = np.uint64(sw)
    seg = row_segments(col0, ncols, W)  # input-row segments of this tile
    jlo, jhi = tap_ranges(kw, dw, pw, sw, OW)  # per horizontal tap: the iw range landing inside y's row
    nseg = seg.shape[0]
    for k in range(K):
        for i in range(kh):
            for s in range(nseg):
                ih, iw0, iw1, base = seg[s, 0], seg[s, 1], seg[s, 2], seg[s, 3]
                oh = ih * sh - ph + i * dh
                if oh < 0 or oh >= OH:
                    continue
                for j in range(kw):
                    a = min(max(jlo[j], iw0), iw1)
                    b = min(max(jhi[j], a), iw1)
                    src = np.uint64(((k * kh + i) * kw + j) * ncols + base + a)
                    dst = np.uint64((k * OH + oh) * OW + a * sw + j * dw - pw)
                    if not accumulate:
                        for t in range(np.uint64(b - a)):
                            yf[dst + swu * t] = cf[src + t]
                    elif sw == 1:
                        for t in range(np.uint64(b - a)):
                            yf[dst + t] += cf[src + t]
                    else:
                        for t in range(np.uint64(b - a)):
                            yf[dst + swu * t] += cf[src + t]
