"""Conv (and a pointwise conv's plain GEMM) as independent output tiles on jitmnn's own micro-kernel: a tile is
a block of output pixels (columns) times a block of output channels (rows), and one thread computes it start to
finish:

1. its columns: im2col of the tile's pixels into that thread's scratch (a pointwise conv reads the input rows in
   place, no copy);
2. the product: kernels/gemm.py's 8x32 micro-kernel with the weights read in place from their [K, C*kh*kw]
   row-major array (no packed weight copy, so memory="low" may use it), K split into KC-deep slabs so a 32-column
   panel stays in L1 while the weight rows stream past it;
3. the epilogue fused into the last slab's store: bias and activation applied while the tile goes to the output
   (no second pass over the output).

One parallel region per call: the tiles (column tile x row block) are dealt round-robin to the scratch slots,
one slot per thread (a static partition, nothing shared that is written). With one slot it is the serial kernel.

Shapes and scratch sizes are checked in `conv_tiles` before the kernel runs; the kernel indexes unchecked."""

from __future__ import annotations

import numpy as np
from numba import prange

from . import act
from ._jit import kernel
from .conv import col2im_tile, im2col_tile
from .gemm import KC, MR, NR, _micro_8x32
from .simd import vadd, vfma, vload, vmax, vmin, vmul, vsplat, vstore, vzero


@kernel
def _act16(v, code, p0, p1):
    """The piecewise-linear activations on a vector (the others are applied per element after the store)."""
    zero = vzero()
    if code == act.RELU:
        return vmax(v, zero)
    if code == act.CLIP:
        return vmin(vmax(v, vsplat(p0)), vsplat(p1))
    if code == act.HARDSIGMOID:
        return vmin(vmax(vfma(vsplat(p0), v, vsplat(p1)), zero), vsplat(np.float32(1.0)))
    if code == act.HARDSWISH:
        gate = vmin(vmax(vadd(v, vsplat(np.float32(3.0))), zero), vsplat(np.float32(6.0)))
        return vmul(vmul(v, gate), vsplat(np.float32(1.0 / 6.0)))
    return v


@kernel
def _store_fused(c, c_off, ldc, tile, rows, width, accumulate, last, bias, b_off, code, p0, p1):
    """c[c_off + r * ldc + j] (=, or += when accumulate) tile[r, j] for the micro-tile's valid rows and columns;
    on the last slab also + bias[b_off + r] and the activation `code`."""
    if width == NR:
        vector_act = code <= act.HARDSWISH
        for r in range(rows):
            at = c_off + r * ldc
            v0 = vload(tile, r * NR)
            v1 = vload(tile, r * NR + 16)
            if accumulate:
                v0 = vadd(v0, vload(c, at))
                v1 = vadd(v1, vload(c, at + 16))
            if last:
                bb = vsplat(bias[b_off + r])
                v0 = _act16(vadd(v0, bb), code, p0, p1)
                v1 = _act16(vadd(v1, bb), code, p0, p1)
            vstore(c, at, v0)
            vstore(c, at + 16, v1)
            if last and not vector_act:
                for j in range(NR):
                    c[at + j] = act.apply(c[at + j], code, p0, p1)
    else:
        for r in range(rows):
            at = c_off + r * ldc
            for j in range(width):
                v = tile[r * NR + j]
                if accumulate:
                    v += c[at + j]
                if last:
                    v = act.apply(v + bias[b_off + r], code, p0, p1)
                c[at + j] = v


@kernel
def _pack_edge(b, b_off, ldb, k, width, edge):
    """The partial last column panel (k rows of `width` columns at b[b_off], rows ldb apart) into edge (k x 32),
    zero-padded."""
    for kk in range(k):
        src = b_off + kk * ldb
        for j in range(width):
            edge[kk * NR + j] = b[src + j]
        for j in range(width, NR):
            edge[kk * NR + j] = np.float32(0.0)


@kernel
def _tile(w, a_rs, a_ks, b, b_off, ldb, nc, R, m0, mrows, y, y_off, P, bias, edge, micro, code, p0, p1):
    """y[m0:m0+mrows, tile columns] = act(A[m0:m0+mrows] @ B + bias): A[i, k] = w[i * a_rs + k * a_ks] (weights
    [M, R] row-major: (R, 1); their transpose: (1, M)), B is R rows of nc columns at b[b_off], ldb apart; y's
    rows are P apart and the tile starts at column y_off."""
    nfull = nc // NR
    wlast = nc - nfull * NR
    if wlast:
        _pack_edge(b, b_off + nfull * NR, ldb, R, wlast, edge)
    for k0 in range(0, R, KC):
        kc = min(KC, R - k0)
        last = k0 + kc >= R
        for nb in range(nfull + (1 if wlast else 0)):
            jj = nb * NR
            width = min(NR, nc - jj)
            for i0 in range(m0, m0 + mrows, MR):
                rows = min(MR, m0 + mrows - i0)
                if width == NR:
                    _micro_8x32(w, i0 * a_rs + k0 * a_ks, a_rs, a_ks, rows, b, b_off + k0 * ldb + jj, ldb, kc, micro)
                else:
                    _micro_8x32(w, i0 * a_rs + k0 * a_ks, a_rs, a_ks, rows, edge, k0 * NR, NR, kc, micro)
                _store_fused(y, i0 * P + y_off + jj, P, micro, rows, width, k0 > 0, last, bias, i0, code, p0, p1)


@kernel(parallel=True)
def _conv_tiles(x, w, bias, y, cols, edges, micros, K, R, P, OW, kh, kw, sh, sw, ph, pw, dh, dw, t, mblock,
                pointwise, code, p0, p1):
    slots = micros.shape[0]
    nct = (P + t - 1) // t
    nmb = (K + mblock - 1) // mblock
    items = nct * nmb
    xf = x.reshape(-1)
    for s in prange(slots):
        colbuf = cols[s]
        for item in range(s, items, slots):
            ct = item // nmb
            m0 = (item - ct * nmb) * mblock
            j0 = ct * t
            nc = min(t, P - j0)
            mrows = min(mblock, K - m0)
            if pointwise:
                _tile(w, R, 1, xf, j0, P, nc, R, m0, mrows, y, j0, P, bias, edges[s], micros[s], code, p0, p1)
            else:
                im2col_tile(x, colbuf[:R * nc].reshape(R, nc), j0, nc, OW, kh, kw, sh, sw, ph, pw, dh, dw)
                _tile(w, R, 1, colbuf, 0, nc, nc, R, m0, mrows, y, j0, P, bias, edges[s], micros[s], code, p0, p1)


@kernel(parallel=True)
def _batched_gemm(U, V, M, zero_bias, edges, micros, a2, K, C, T):
    """M[a] = U[a] @ V[a] for every a (flat [a2, K, C] / [a2, C, T] / [a2, K, T]); each thread slot takes a
    contiguous range of the products."""
    slots = micros.shape[0]
    per = (a2 + slots - 1) // slots
    for s in prange(slots):
        for a in range(s * per, min(a2, (s + 1) * per)):
            _tile(U[a * K * C:(a + 1) * K * C], C, 1, V, a * C * T, T, T, C, 0, K, M[a * K * T:(a + 1) * K * T], 0, T,
                  zero_bias, edges[s], micros[s], 0, np.float32(0.0), np.float32(0.0))


@kernel(parallel=True)
def _convt_tiles(x, w, y, cols, edges, micros, bias_rows, Cg, rows, HW, W, kh, kw, sh, sw, ph, pw, dh, dw, t, code,
                 p0, p1):
    """ConvTranspose whose taps never overlap (kernel == stride): per tile of input pixels, cols = act(W^T @ x[:, tile]
    + bias) on the micro-kernel (W [Cg, rows] read transposed in place; each output pixel gets exactly one column
    element, so bias and activation apply there), then moved into y; each thread slot takes a contiguous range of
    tiles, and tiles write disjoint output pixels."""
    slots = micros.shape[0]
    ntiles = (HW + t - 1) // t
    per = (ntiles + slots - 1) // slots
    for s in prange(slots):
        colbuf = cols[s]
        for it in range(s * per, min(ntiles, (s + 1) * per)):
            col0 = it * t
            nc = min(t, HW - col0)
            _tile(w, 1, rows, x, col0, HW, nc, Cg, 0, rows, colbuf, 0, nc, bias_rows, edges[s], micros[s], code, p0, p1)
            col2im_tile(colbuf[:rows * nc].reshape(rows, nc), y, col0, nc, W, kh, kw, sh, sw, ph, pw, dh, dw, False)


# ----- checked wrappers ------------------------------------------------------------------------------------------
def _not_f32_contiguous(**arrays) -> list:
    """A message per array a kernel would read or write wrongly: not float32, or not C-contiguous."""
    return [f"{name} must be C-contiguous float32 (got {a.dtype})" for name, a in arrays.items()
            if a.dtype != np.float32 or not a.flags.c_contiguous]


def slot_floats(R: int, t: int, pointwise: bool) -> tuple[int, int, int]:
    """Floats of scratch one thread slot needs: (im2col columns, edge panel, micro-tile)."""
    return (0 if pointwise else R * t), R * NR, MR * NR


def conv_tiles(x: np.ndarray, w: np.ndarray, bias: np.ndarray, y: np.ndarray, cols: np.ndarray, edges: np.ndarray,
               micros: np.ndarray, geometry: tuple, t: int, mblock: int, act_code: int, p0, p1) -> None:
    """y[K, OH*OW] = act(conv(x[C, H, W], w[K, C*kh*kw]) + bias) for one image and group. geometry =
    (OW, kh, kw, sh, sw, ph, pw, dh, dw); t output columns and mblock output channels per tile; cols / edges /
    micros: [slots, n] float32 scratch, one row per thread slot (slot_floats gives n)."""
    OW, kh, kw, sh, sw, ph, pw, dh, dw = (int(v) for v in geometry)
    C, H, Wd = x.shape
    K, R = w.shape
    P = y.shape[1]
    pointwise = kh == 1 and kw == 1 and sh == 1 and sw == 1 and ph == 0 and pw == 0 and dh == 1 and dw == 1
    slots = micros.shape[0]
    need = slot_floats(R, t, pointwise)
    bad = _not_f32_contiguous(x=x, w=w, y=y, cols=cols, edges=edges, micros=micros)
    if R != C * kh * kw or y.shape[0] != K or bias.shape[0] < K or bias.dtype != np.float32:
        bad.append(f"x {x.shape}, w {w.shape}, y {y.shape}, bias {bias.shape} do not fit a {kh}x{kw} conv")
    if P % OW or (pointwise and P != H * Wd):  # im2col itself reads only inside x, whatever the geometry
        bad.append(f"output {P} pixels ({OW} wide) do not fit input {x.shape} with this geometry")
    if t < 1 or mblock < 1 or (t < P and t % NR) or mblock % MR and mblock < K:
        bad.append(f"tile {t} columns x {mblock} rows: columns must be a multiple of {NR} and rows of {MR} "
                   "unless one tile spans them all")
    if slots < 1 or cols.shape[0] != slots or edges.shape[0] != slots or cols.shape[1] < need[0] \
            or edges.shape[1] < need[1] or micros.shape[1] < need[2]:
        bad.append(f"scratch cols {cols.shape}, edges {edges.shape}, micros {micros.shape} < {slots} x {need}")
    if bad:
        raise ValueError("conv_tiles: " + "; ".join(bad))
    _conv_tiles(x, w.reshape(-1), bias, y.reshape(-1), cols, edges, micros, K, R, P, OW, kh, kw, sh, sw, ph, pw,
                dh, dw, int(t), int(mblock), pointwise, int(act_code), np.float32(p0), np.float32(p1))


def batched_gemm(U: np.ndarray, V: np.ndarray, M: np.ndarray, zero_bias: np.ndarray, edges: np.ndarray,
                 micros: np.ndarray) -> None:
    """M[a] = U[a] @ V[a] for U [a2, K, C], V [a2, C, T], M [a2, K, T] (Winograd's alpha^2 products), over the
    thread slots of edges [slots, >= C * 32] and micros [slots, >= 8 * 32]; zero_bias: >= K zeros."""
    a2, K, C = U.shape
    T = V.shape[2]
    bad = _not_f32_contiguous(U=U, V=V, M=M, edges=edges, micros=micros)
    if V.shape != (a2, C, T) or M.shape != (a2, K, T) or zero_bias.shape[0] < K or zero_bias.dtype != np.float32:
        bad.append(f"U {U.shape}, V {V.shape}, M {M.shape}, bias {zero_bias.shape} do not fit")
    if edges.shape[0] != micros.shape[0] or edges.shape[0] < 1 or edges.shape[1] < C * NR or micros.shape[1] < MR * NR:
        bad.append(f"scratch edges {edges.shape}, micros {micros.shape} too small for C={C}")
    if bad:
        raise ValueError("batched_gemm: " + "; ".join(bad))
    _batched_gemm(U.reshape(-1), V.reshape(-1), M.reshape(-1), zero_bias, edges, micros, a2, K, C, T)


def convt_tiles(x: np.ndarray, w: np.ndarray, bias: np.ndarray, y: np.ndarray, cols: np.ndarray, edges: np.ndarray,
                micros: np.ndarray, bias_rows: np.ndarray, kernel: tuple, t: int, act_code: int, p0, p1) -> None:
    """One image and group of a ConvTranspose with kernel == stride, no padding, no dilation (every output pixel
    written once): y [K, H*kh, W*kw] = act(conv_transpose(x [C, H, W], w [C, K*kh*kw]) + bias), threaded over
    tiles of t input pixels. cols [slots, >= K*kh*kw*t], edges [slots, >= C*32], micros [slots, >= 256] and
    bias_rows (>= K*kh*kw floats: each channel's bias once per tap) are scratch."""
    kh, kw = (int(v) for v in kernel)
    C, H, W = x.shape
    Kg, OH, OW = y.shape
    rows = Kg * kh * kw
    bad = _not_f32_contiguous(x=x, w=w, y=y, cols=cols, edges=edges, micros=micros, bias_rows=bias_rows)
    if w.shape != (C, rows) or (OH, OW) != (H * kh, W * kw) or bias.shape[0] < Kg or bias_rows.shape[0] < rows:
        bad.append(f"x {x.shape}, w {w.shape}, y {y.shape}, bias {bias.shape} do not fit a {kh}x{kw} stride-{kh}x{kw} "
                   "ConvTranspose")
    slots = micros.shape[0]
    if t < 1 or slots < 1 or cols.shape[0] != slots or edges.shape[0] != slots or cols.shape[1] < rows * t \
            or edges.shape[1] < C * NR or micros.shape[1] < MR * NR:
        bad.append(f"scratch cols {cols.shape}, edges {edges.shape}, micros {micros.shape} too small for tile {t}")
    if bad:
        raise ValueError("convt_tiles: " + "; ".join(bad))
    bias_rows[:rows].reshape(Kg, kh * kw)[:] = bias[:Kg, None]
    _convt_tiles(x.reshape(-1), w.reshape(-1), y, cols, edges, micros, bias_rows, C, rows, H * W, W, kh, kw, kh, kw,
                 0, 0, 1, 1, int(t), int(act_code), np.float32(p0), np.float32(p1))
