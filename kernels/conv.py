"""im2col for tiled GEMM convolution, and col2im for ConvTranspose. One image (one group) at a time:
x is [C, H, W] C-contiguous; a column p of the im2col matrix is output pixel (p // OW, p % OW)."""

import numpy as np

from ._jit import kernel


@kernel
def im2col_tile(x, cols, col0, ncols, OW, kh, kw, sh, sw, ph, pw, dh, dw):
    """cols[(c*kh + i)*kw + j, p - col0] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside), for the
    output pixels p in [col0, col0 + ncols). The valid ow range of each output row is computed once, so
    the inner copy has no branches (stride 1 makes it a contiguous copy)."""
    C, H, W = x.shape
    zero = np.float32(0.0)
    p_end = col0 + ncols
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                crow = cols[(c * kh + i) * kw + j]
                off = j * dw - pw
                # ow is valid iff 0 <= ow*sw + off < W
                lo_all = 0 if off >= 0 else (-off + sw - 1) // sw
                hi_all = (W - 1 - off) // sw + 1 if W - 1 - off >= 0 else 0
                p = col0
                while p < p_end:
                    oh = p // OW
                    ow0 = p - oh * OW
                    ow1 = min(OW, ow0 + (p_end - p))
                    base = p - col0 - ow0  # tile column of (oh, 0)
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= H:
                        crow[base + ow0:base + ow1] = zero
                    else:
                        xrow = x[c, ih]
                        lo = min(max(lo_all, ow0), ow1)
                        hi = min(max(hi_all, lo), ow1)
                        if lo > ow0:
                            crow[base + ow0:base + lo] = zero
                        # Slices, so the copy loops index from 0 (no negative-index wraparound checks,
                        # which stop LLVM from vectorising; measured 4x on the copy).
                        dst = crow[base + lo:base + hi]
                        if sw == 1:
                            src = xrow[lo + off:hi + off]
                            for t in range(hi - lo):
                                dst[t] = src[t]
                        else:
                            src = xrow[lo * sw + off:]
                            for t in range(hi - lo):
                                dst[t] = src[t * sw]
                        if ow1 > hi:
                            crow[base + hi:base + ow1] = zero
                    p += ow1 - ow0


@kernel
def col2im_tile(cols, y, col0, ncols, W, kh, kw, sh, sw, ph, pw, dh, dw):
    """ConvTranspose scatter: for input pixels p in [col0, col0 + ncols) (ih = p // W, iw = p % W),
    y[k, ih*sh - ph + i*dh, iw*sw - pw + j*dw] += cols[(k*kh + i)*kw + j, p - col0] where inside y."""
    K, OH, OW = y.shape
    p_end = col0 + ncols
    for k in range(K):
        for i in range(kh):
            for j in range(kw):
                r = (k * kh + i) * kw + j
                off = j * dw - pw
                lo = 0 if off >= 0 else (-off + sw - 1) // sw
                hi = (OW - 1 - off) // sw + 1 if OW - 1 - off >= 0 else 0
                p = col0
                while p < p_end:
                    ih = p // W
                    iw0 = p - ih * W
                    iw1 = min(W, iw0 + (p_end - p))
                    base = p - col0 - iw0
                    oh = ih * sh - ph + i * dh
                    if oh >= 0 and oh < OH:
                        a = min(max(lo, iw0), iw1)
                        b = min(max(hi, a), iw1)
                        for iw in range(a, b):
                            y[k, oh, iw * sw + off] += cols[r, base + iw]
                    p += iw1 - iw0
