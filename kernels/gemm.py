"""jitmnn's own float32 GEMM in the BLIS/MLAS shape: C[M, N] = A[M, K] @ B[K, N].

A (the weights of a conv or MatMul) is packed once into row panels of MR=8 rows, K-major (pack_a); B (the
activations, e.g. an im2col tile) is read in place, 32 columns at a time, and only a partial last panel is
packed (zero-padded). The micro-kernel keeps an 8 x 32
tile of C in 16 zmm accumulators (kernels/simd.py) and runs one broadcast and two FMAs per row and k: the
register blocking of BLIS's AVX-512 kernels (Van Zee & van de Geijn, "BLIS", TOMS 2015). K is split into
KC-deep slabs so a B panel (KC x 32 floats = 32 KB) stays in L1 while every A panel streams past it. Reading
B in place instead of packing it measured faster here: packing an im2col tile again doubled its copy cost.

Shapes and buffer sizes are checked in the wrappers; the kernels index without bounds checks."""

from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import kernel
from .simd import vadd, vbroadcast, vfma, vload, vstore, vzero

MR = 8
NR = 32
KC = 256


def packed_a_size(m: int, k: int) -> int:
    return -(-m // MR) * k * MR


@kernel
def _pack_a(a, m, k, out):
    """out[(i // MR) * k * MR + kk * MR + i % MR] = a[i, kk]; rows past m are zero."""
    for mb in range((m + MR - 1) // MR):
        base = mb * k * MR
        for kk in range(k):
            for r in range(MR):
                i = mb * MR + r
                out[base + kk * MR + r] = a[i, kk] if i < m else np.float32(0.0)


@kernel
def _micro_8x32(ap, a_off, a_rs, a_ks, rows, bp, b_off, ldb, kc, tile):
    """tile[8 * 32] = A (8 rows x kc) times B (kc rows of 32 columns, ldb apart: a packed panel has ldb = 32,
    the activations read in place have ldb = n): 16 accumulators, 2 loads + 8 broadcasts per k. A's row r,
    step kk is ap[a_off + r * a_rs + kk * a_ks]: a packed panel has (a_rs, a_ks) = (1, MR), weights read in place
    (row-major, lda apart) have (lda, 1). Rows at or past `rows` repeat the last valid row (their results are
    never stored), so an in-place read never leaves A."""
    last = rows - 1
    o0 = a_off
    o1 = a_off + min(1, last) * a_rs
    o2 = a_off + min(2, last) * a_rs
    o3 = a_off + min(3, last) * a_rs
    o4 = a_off + min(4, last) * a_rs
    o5 = a_off + min(5, last) * a_rs
    o6 = a_off + min(6, last) * a_rs
    o7 = a_off + min(7, last) * a_rs
    c00 = vzero()
    c01 = vzero()
    c10 = vzero()
    c11 = vzero()
    c20 = vzero()
    c21 = vzero()
    c30 = vzero()
    c31 = vzero()
    c40 = vzero()
    c41 = vzero()
    c50 = vzero()
    c51 = vzero()
    c60 = vzero()
    c61 = vzero()
    c70 = vzero()
    c71 = vzero()
    for kk in range(kc):
        bo = b_off + kk * ldb
        b0 = vload(bp, bo)
        b1 = vload(bp, bo + 16)
        ak = kk * a_ks
        a = vbroadcast(ap, o0 + ak)
        c00 = vfma(a, b0, c00)
        c01 = vfma(a, b1, c01)
        a = vbroadcast(ap, o1 + ak)
        c10 = vfma(a, b0, c10)
        c11 = vfma(a, b1, c11)
        a = vbroadcast(ap, o2 + ak)
        c20 = vfma(a, b0, c20)
        c21 = vfma(a, b1, c21)
        a = vbroadcast(ap, o3 + ak)
        c30 = vfma(a, b0, c30)
        c31 = vfma(a, b1, c31)
        a = vbroadcast(ap, o4 + ak)
        c40 = vfma(a, b0, c40)
        c41 = vfma(a, b1, c41)
        a = vbroadcast(ap, o5 + ak)
        c50 = vfma(a, b0, c50)
        c51 = vfma(a, b1, c51)
        a = vbroadcast(ap, o6 + ak)
        c60 = vfma(a, b0, c60)
        c61 = vfma(a, b1, c61)
        a = vbroadcast(ap, o7 + ak)
        c70 = vfma(a, b0, c70)
        c71 = vfma(a, b1, c71)
    vstore(tile, 0, c00)
    vstore(tile, 16, c01)
    vstore(tile, 32, c10)
    vstore(tile, 48, c11)
    vstore(tile, 64, c20)
    vstore(tile, 80, c21)
    vstore(tile, 96, c30)
    vstore(tile, 112, c31)
    vstore(tile, 128, c40)
    vstore(tile, 144, c41)
    vstore(tile, 160, c50)
    vstore(tile, 176, c51)
    vstore(tile, 192, c60)
    vstore(tile, 208, c61)
    vstore(tile, 224, c70)
    vstore(tile, 240, c71)


@kernel
def _pack_edge(b, k, n, edge):
    """The partial last column panel of b (flat [k, n]) into edge (k x 32), zero-padded."""
    j0 = (n // NR) * NR
    w = n - j0
    for kk in range(k):
        for cc in range(w):
            edge[kk * NR + cc] = b[kk * n + j0 + cc]
        for cc in range(w, NR):
            edge[kk * NR + cc] = np.float32(0.0)


@kernel
def _store_tile(c, tile, i0, j0, rows, width, n, accumulate):
    """c[i0:i0+rows, j0:j0+width] (flat, row-major, n columns) = or += the micro-kernel's 8 x 32 tile."""
    if rows == MR and width == NR:
        for r in range(MR):
            at = (i0 + r) * n + j0
            if accumulate:
                vstore(c, at, vadd(vload(c, at), vload(tile, r * NR)))
                vstore(c, at + 16, vadd(vload(c, at + 16), vload(tile, r * NR + 16)))
            else:
                vstore(c, at, vload(tile, r * NR))
                vstore(c, at + 16, vload(tile, r * NR + 16))
    else:
        for r in range(rows):
            at = (i0 + r) * n + j0
            for cc in range(width):
                if accumulate:
                    c[at + cc] += tile[r * NR + cc]
                else:
                    c[at + cc] = tile[r * NR + cc]


@kernel
def _gemm(ap, b, m, k, n, c, tile, edge):
    """c[m, n] (flat, row-major) = A @ b, A packed by pack_a, b flat row-major [k, n]. Whole 32-column panels
    are read from b in place (rows n apart: no packing copy); a partial last panel is packed, zero-padded,
    into `edge` (k * 32 floats) first. tile: 8 * 32 float32 scratch."""
    nmb = (m + MR - 1) // MR
    nfull = n // NR
    width_last = n - nfull * NR
    if width_last:
        _pack_edge(b, k, n, edge)
    for k0 in range(0, k, KC):
        kc = min(KC, k - k0)
        for nb in range(nfull + (1 if width_last else 0)):
            j0 = nb * NR
            width = min(NR, n - j0)
            for mb in range(nmb):
                i0 = mb * MR
                rows = min(MR, m - i0)
                if width == NR:
                    _micro_8x32(ap, mb * k * MR + k0 * MR, 1, MR, MR, b, k0 * n + j0, n, kc, tile)
                else:
                    _micro_8x32(ap, mb * k * MR + k0 * MR, 1, MR, MR, edge, k0 * NR, NR, kc, tile)
                _store_tile(c, tile, i0, j0, rows, width, n, k0 > 0)


@kernel(parallel=True)
def _gemm_parallel(ap, b, m, k, n, c, tiles, edge):
    """_gemm with the 8-row panels of C split across threads (static: prange over panels); each panel owns
    its micro-tile scratch (tiles: 8 * 32 floats per panel) and its rows of C, so threads share nothing they
    write. `edge` must already hold the packed partial last column panel (if n % 32)."""
    nmb = (m + MR - 1) // MR
    nfull = n // NR
    npanels = nfull + (1 if n - nfull * NR else 0)
    for mb in prange(nmb):
        tile = tiles[mb * MR * NR:(mb + 1) * MR * NR]
        i0 = mb * MR
        rows = min(MR, m - i0)
        for k0 in range(0, k, KC):
            kc = min(KC, k - k0)
            for nb in range(npanels):
                j0 = nb * NR
                width = min(NR, n - j0)
                if width == NR:
                    _micro_8x32(ap, mb * k * MR + k0 * MR, 1, MR, MR, b, k0 * n + j0, n, kc, tile)
                else:
                    _micro_8x32(ap, mb * k * MR + k0 * MR, 1, MR, MR, edge, k0 * NR, NR, kc, tile)
                _store_tile(c, tile, i0, j0, rows, width, n, k0 > 0)


# ----- checked wrappers -----------------------------------------------------------------------------------
def pack_a(a: np.ndarray) -> np.ndarray:
    """The weights [M, K] as MR-row panels (done once, at prepare)."""
    a = np.ascontiguousarray(a, np.float32)
    if a.ndim != 2:
        raise ValueError(f"pack_a takes a 2-D array, got shape {a.shape}")
    m, k = a.shape
    out = np.empty(packed_a_size(m, k), np.float32)
    _pack_a(a, m, k, out)
    return out


def edge_size(k: int) -> int:
    """Floats of scratch gemm() packs a partial last column panel into."""
    return k * NR


def gemm(ap: np.ndarray, m: int, k: int, b: np.ndarray, c: np.ndarray, edge: np.ndarray, tile: np.ndarray) -> None:
    """c[m, n] = A @ b, with A packed by pack_a and b C-contiguous float32 [k, n]; edge (edge_size(k) floats)
    and tile (MR * NR floats) are scratch."""
    kb, n = b.shape
    if kb != k or ap.size != packed_a_size(m, k) or c.shape != (m, n) or not c.flags.c_contiguous \
            or c.dtype != np.float32 or b.dtype != np.float32 or not b.flags.c_contiguous \
            or tile.size < MR * NR or tile.dtype != np.float32 or edge.size < edge_size(k) or edge.dtype != np.float32:
        raise ValueError(f"gemm: A packed for {m}x{k} ({ap.size}), b {b.shape} {b.dtype}, c {c.shape} {c.dtype}, "
                         f"edge {edge.size}, tile {tile.size}")
    _gemm(ap, b.reshape(-1), m, k, n, c.reshape(-1), tile, edge)


def gemm_threads(ap: np.ndarray, m: int, k: int, b: np.ndarray, c: np.ndarray, edge: np.ndarray,
                 tiles: np.ndarray) -> None:
    """gemm() with C's 8-row panels spread over Numba's threads (numba.set_num_threads decides how many);
    tiles: tiles_size(m) floats of scratch, one micro-tile per panel."""
    kb, n = b.shape
    if kb != k or ap.size != packed_a_size(m, k) or c.shape != (m, n) or not c.flags.c_contiguous \
            or c.dtype != np.float32 or b.dtype != np.float32 or not b.flags.c_contiguous \
            or tiles.size < tiles_size(m) or tiles.dtype != np.float32 or edge.size < edge_size(k) \
            or edge.dtype != np.float32:
        raise ValueError(f"gemm_threads: A packed for {m}x{k} ({ap.size}), b {b.shape} {b.dtype}, c {c.shape} "
                         f"{c.dtype}, edge {edge.size}, tiles {tiles.size}")
    bf = b.reshape(-1)
    if n % NR:
        _pack_edge(bf, k, n, edge)
    _gemm_parallel(ap, bf, m, k, n, c.reshape(-1), tiles, edge)


def tiles_size(m: int) -> int:
    return -(-m // MR) * MR * NR
