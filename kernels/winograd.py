"""Winograd minimal-filtering convolution F(m x m, 3 x 3) (Lavin & Gray 2015, "Fast Algorithms for
Convolutional Neural Networks"): Y = A^T [ (G g G^T) . (B^T d B) ] A for every alpha x alpha input tile d
(alpha = m + 2) overlapping its neighbours by 2. The filter transform U = G g G^T is done once at pack
time (numpy); per run the input tiles are transformed into V[alpha^2][C][tiles], the alpha^2 products
become one batched GEMM M[a] = U[a] @ V[a] (BLAS), and the output transform adds bias + activation.

One input and one output transform kernel per unit (a plan compiles only the units it uses), built from
unrolled 1-D transforms generated from the matrices below (the coefficients are constants and zeros
cost nothing). Each 2-D transform is two 1-D passes: the pass that reads or writes the image (stride m)
uses plain indexing, the other is a vector loop over all the tiles of a chunk (0-based loops over 1-D
row slices, the form LLVM vectorises). The caller processes tiles in rectangular blocks (whole images,
whole tile rows, or part of a tile row) so the scratch stays bounded.

Measured dead ends (this machine, 1 thread): generic matrix-driven loops with zero-skipping were 3-6x
slower (per-slice and per-loop overhead on short rows); a vertical-first input pass (contiguous columns,
then strided tile reads) won on 7x7-14x14 maps but lost 15-45% at 56x56, where Winograd matters most.

Matrices come from the Cook-Toom construction with interpolation points 0, +-1, +-2, +-1/2 (and infinity):
the points of Lavin & Gray / NNPACK / MNN, which keep the coefficients small."""

from fractions import Fraction

import numpy as np
from numba import prange

from jitmnn.config import FASTMATH_NO_REASSOC as NO_REASSOC

from . import act
from ._jit import helper, kernel

POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)
R = 3  # filter size


def transform_matrices(m: int, r: int = R):
    """(AT [m, alpha], G [alpha, r], BT [alpha, alpha]) in float64 for F(m, r), alpha = m + r - 1.

    AT and G are the Cook-Toom Vandermonde matrices over the points plus infinity, with the Lagrange
    denominators f_j = prod_{l != j} (p_j - p_l) put into G (Lavin & Gray's "fractions in G" form);
    BT is then the unique solution of sum_j AT[i, j] G[j, k] BT[j, l] = [l == i + k] (correlation),
    solved numerically and snapped to the exact small rationals it is made of."""
    alpha = m + r - 1
    if not 2 <= alpha <= len(POINTS) + 1:
        raise ValueError(f"F({m},{r}) needs {alpha - 1} finite points; have {len(POINTS)}")
    p = np.array(POINTS[: alpha - 1], np.float64)
    AT = np.zeros((m, alpha))
    G = np.zeros((alpha, r))
    for j in range(alpha - 1):
        f = np.prod([p[j] - p[l] for l in range(alpha - 1) if l != j])
        if j == 0 and f < 0:
            f = -f  # sign convention of Lavin & Gray's F(4,3) G (1/4 in the corner); BT absorbs it
        AT[:, j] = p[j] ** np.arange(m)
        G[j, :] = p[j] ** np.arange(r) / f
    AT[m - 1, alpha - 1] = 1.0
    G[alpha - 1, r - 1] = 1.0
    # Solve for BT column by column: coeff[(i, k), j] = AT[i, j] * G[j, k]
    coeff = np.einsum("ij,jk->ikj", AT, G).reshape(m * r, alpha)
    BT = np.zeros((alpha, alpha))
    for col in range(alpha):
        rhs = np.array([1.0 if col == i + k else 0.0 for i in range(m) for k in range(r)])
        sol, *_ = np.linalg.lstsq(coeff, rhs, rcond=None)
        BT[:, col] = [float(Fraction(v).limit_denominator(256)) for v in sol]
    return AT, G, BT


def transform_weights(w, G):
    """U[a = i*alpha + j, k, c] = (G w[k, c] G^T)[i, j] in float64 (then cast by the caller)."""
    alpha = G.shape[0]
    K, C = w.shape[0], w.shape[1]
    # Two BLAS contractions instead of einsum (0.6 s -> ~0.05 s for ResNet-18: it is on the warm-start path).
    t = np.tensordot(np.asarray(w, np.float64), G, axes=([3], [1]))  # [K, C, p, j]
    u = np.tensordot(G, t, axes=([1], [2]))  # [i, K, C, j]
    return np.ascontiguousarray(u.transpose(0, 3, 1, 2)).reshape(alpha * alpha, K, C)


# ----------------------------------------------------------------------------------------------------
# Unrolled 1-D transforms and the transform passes, one per unit. Generated from transform_matrices()
# (tests/test_winograd.py checks each against the matrices); 0-based loops over 1-D row slices so LLVM
# vectorises the loops over tiles.


@helper
def _bt2(d0, d1, d2, d3):
    """B^T d for F(2,3) (one column of a tile)."""
    return (d0 - d2,
            d1 + d2,
            -d1 + d2,
            -d1 + d3)


@helper
def _at2(d0, d1, d2, d3):
    """A^T s for F(2,3)."""
    return (d0 + d1 + d2,
            d1 - d2 + d3)


@helper
def _bt4(d0, d1, d2, d3, d4, d5):
    """B^T d for F(4,3) (one column of a tile)."""
    return (np.float32(4.0) * d0 - np.float32(5.0) * d2 + d4,
            -np.float32(4.0) * d1 - np.float32(4.0) * d2 + d3 + d4,
            np.float32(4.0) * d1 - np.float32(4.0) * d2 - d3 + d4,
            -np.float32(2.0) * d1 - d2 + np.float32(2.0) * d3 + d4,
            np.float32(2.0) * d1 - d2 - np.float32(2.0) * d3 + d4,
            np.float32(4.0) * d1 - np.float32(5.0) * d3 + d5)


@helper
def _at4(d0, d1, d2, d3, d4, d5):
    """A^T s for F(4,3)."""
    return (d0 + d1 + d2 + d3 + d4,
            d1 - d2 + np.float32(2.0) * d3 - np.float32(2.0) * d4,
            d1 + d2 + np.float32(4.0) * d3 + np.float32(4.0) * d4,
            d1 - d2 + np.float32(8.0) * d3 - np.float32(8.0) * d4 + d5)


@helper
def _bt6(d0, d1, d2, d3, d4, d5, d6, d7):
    """B^T d for F(6,3) (one column of a tile)."""
    return (d0 - np.float32(5.25) * d2 + np.float32(5.25) * d4 - d6,
            d1 + d2 - np.float32(4.25) * d3 - np.float32(4.25) * d4 + d5 + d6,
            -d1 + d2 + np.float32(4.25) * d3 - np.float32(4.25) * d4 - d5 + d6,
            np.float32(0.5) * d1 + np.float32(0.25) * d2 - np.float32(2.5) * d3 - np.float32(1.25) * d4
             + np.float32(2.0) * d5 + d6,
            -np.float32(0.5) * d1 + np.float32(0.25) * d2 + np.float32(2.5) * d3 - np.float32(1.25) * d4
             - np.float32(2.0) * d5 + d6,
            np.float32(2.0) * d1 + np.float32(4.0) * d2 - np.float32(2.5) * d3 - np.float32(5.0) * d4
             + np.float32(0.5) * d5 + d6,
            -np.float32(2.0) * d1 + np.float32(4.0) * d2 + np.float32(2.5) * d3 - np.float32(5.0) * d4
             - np.float32(0.5) * d5 + d6,
            -d1 + np.float32(5.25) * d3 - np.float32(5.25) * d5 + d7)


@helper
def _at6(d0, d1, d2, d3, d4, d5, d6, d7):
    """A^T s for F(6,3)."""
    return (d0 + d1 + d2 + d3 + d4 + d5 + d6,
            d1 - d2 + np.float32(2.0) * d3 - np.float32(2.0) * d4 + np.float32(0.5) * d5 - np.float32(0.5) * d6,
            d1 + d2 + np.float32(4.0) * d3 + np.float32(4.0) * d4 + np.float32(0.25) * d5 + np.float32(0.25) * d6,
            d1 - d2 + np.float32(8.0) * d3 - np.float32(8.0) * d4 + np.float32(0.125) * d5
             - np.float32(0.125) * d6,
            d1 + d2 + np.float32(16.0) * d3 + np.float32(16.0) * d4 + np.float32(0.0625) * d5
             + np.float32(0.0625) * d6,
            d1 - d2 + np.float32(32.0) * d3 - np.float32(32.0) * d4 + np.float32(0.03125) * d5
             - np.float32(0.03125) * d6 + d7)


@kernel(error_model="python", fastmath=NO_REASSOC)
def _in_cols2(x, b, c, y0, Q, tb, cbase, ntx):
    """Q[i*4 + l, tb + t] = (B^T d_t)[i, l] for the ntx tiles of one tile row: tile t reads input rows
    y0 + [0, 4) and columns cbase + t*2 + [0, 4) of x[b, c], zero outside. Plain 2-D indexing (the
    loads are strided, so nothing vectorises here; no slices means no per-call view overhead)."""
    H = x.shape[2]
    W = x.shape[3]
    zero = np.float32(0.0)
    inside = y0 >= 0 and y0 + 3 < H
    ok0 = y0 + 0 >= 0 and y0 + 0 < H
    ok1 = y0 + 1 >= 0 and y0 + 1 < H
    ok2 = y0 + 2 >= 0 and y0 + 2 < H
    ok3 = y0 + 3 >= 0 and y0 + 3 < H
    for l in range(4):
        c0 = cbase + l
        t_lo = 0
        while t_lo < ntx and c0 + t_lo * 2 < 0:
            t_lo += 1
        t_hi = ntx
        while t_hi > t_lo and c0 + (t_hi - 1) * 2 >= W:
            t_hi -= 1
        for t in range(t_lo):
            Q[0 + l, tb + t] = zero
            Q[4 + l, tb + t] = zero
            Q[8 + l, tb + t] = zero
            Q[12 + l, tb + t] = zero
        for t in range(t_hi, ntx):
            Q[0 + l, tb + t] = zero
            Q[4 + l, tb + t] = zero
            Q[8 + l, tb + t] = zero
            Q[12 + l, tb + t] = zero
        if inside:
            for t in range(t_lo, t_hi):
                col = c0 + t * 2
                o0, o1, o2, o3 = _bt2(x[b, c, y0 + 0, col], x[b, c, y0 + 1, col], x[b, c, y0 + 2, col],
                                      x[b, c, y0 + 3, col])
                Q[0 + l, tb + t] = o0
                Q[4 + l, tb + t] = o1
                Q[8 + l, tb + t] = o2
                Q[12 + l, tb + t] = o3
        else:
            for t in range(t_lo, t_hi):
                col = c0 + t * 2
                d0 = x[b, c, y0 + 0, col] if ok0 else zero
                d1 = x[b, c, y0 + 1, col] if ok1 else zero
                d2 = x[b, c, y0 + 2, col] if ok2 else zero
                d3 = x[b, c, y0 + 3, col] if ok3 else zero
                o0, o1, o2, o3 = _bt2(d0, d1, d2, d3)
                Q[0 + l, tb + t] = o0
                Q[4 + l, tb + t] = o1
                Q[8 + l, tb + t] = o2
                Q[12 + l, tb + t] = o3


@kernel(error_model="python", fastmath=NO_REASSOC)
def _in_rows2(Q, V, c, v0, Tc):
    """V[i*4 + j, c, v0 + t] = (Q_i B)[j] for the Tc tiles of a chunk (vector loops over tiles)."""
    for i in range(4):
        s0 = Q[i * 4 + 0, :Tc]
        s1 = Q[i * 4 + 1, :Tc]
        s2 = Q[i * 4 + 2, :Tc]
        s3 = Q[i * 4 + 3, :Tc]
        w0 = V[i * 4 + 0, c, v0:v0 + Tc]
        w1 = V[i * 4 + 1, c, v0:v0 + Tc]
        w2 = V[i * 4 + 2, c, v0:v0 + Tc]
        w3 = V[i * 4 + 3, c, v0:v0 + Tc]
        for t in range(Tc):
            o0, o1, o2, o3 = _bt2(s0[t], s1[t], s2[t], s3[t])
            w0[t] = o0
            w1[t] = o1
            w2[t] = o2
            w3[t] = o3


@kernel(error_model="python", fastmath=NO_REASSOC)
def _out_cols2(M, S, k, v0, Tc):
    """S[jo*4 + i, t] = (A^T M_i)[jo] (row i of the tiles' M for output channel k; vector loops)."""
    for i in range(4):
        s0 = M[i * 4 + 0, k, v0:v0 + Tc]
        s1 = M[i * 4 + 1, k, v0:v0 + Tc]
        s2 = M[i * 4 + 2, k, v0:v0 + Tc]
        s3 = M[i * 4 + 3, k, v0:v0 + Tc]
        w0 = S[0 + i, :Tc]
        w1 = S[4 + i, :Tc]
        for t in range(Tc):
            o0, o1 = _at2(s0[t], s1[t], s2[t], s3[t])
            w0[t] = o0
            w1[t] = o1


@kernel(error_model="python", fastmath=NO_REASSOC)
def _out_rows2(S, y, b, k, oy0, tb, x0, ntx, bk, code, p0, p1):
    """y[b, k, oy0 + io, x0 + t*2 + jo] = act((S_jo A)[io] + bk) for the ntx tiles of one tile row, clipped
    at the bottom and right edges (only the last tile row / column can be cut). The strided stores use
    2-D indexing; the activation is a second, contiguous pass over the rows just written (one call site,
    which keeps the compiled code small)."""
    OH = y.shape[2]
    OW = y.shape[3]
    nrows = min(2, OH - oy0)
    last_ox = x0 + (ntx - 1) * 2
    for jo in range(2):
        n = ntx if last_ox + jo < OW else ntx - 1
        if nrows == 2:
            for t in range(n):
                o0, o1 = _at2(S[jo * 4 + 0, tb + t], S[jo * 4 + 1, tb + t], S[jo * 4 + 2, tb + t],
                              S[jo * 4 + 3, tb + t])
                ox = x0 + jo + t * 2
                y[b, k, oy0 + 0, ox] = o0 + bk
                y[b, k, oy0 + 1, ox] = o1 + bk
        else:
            for t in range(n):
                o0, o1 = _at2(S[jo * 4 + 0, tb + t], S[jo * 4 + 1, tb + t], S[jo * 4 + 2, tb + t],
                              S[jo * 4 + 3, tb + t])
                ox = x0 + jo + t * 2
                y[b, k, oy0, ox] = o0 + bk
                if 1 < nrows:
                    y[b, k, oy0 + 1, ox] = o1 + bk
    if code != 0:
        width = min(ntx * 2, OW - x0)
        for io in range(nrows):
            act.apply_row(y[b, k, oy0 + io, x0:x0 + width], code, p0, p1)


@kernel(error_model="python", fastmath=NO_REASSOC)
def _in_cols4(x, b, c, y0, Q, tb, cbase, ntx):
    """Q[i*6 + l, tb + t] = (B^T d_t)[i, l] for the ntx tiles of one tile row: tile t reads input rows
    y0 + [0, 6) and columns cbase + t*4 + [0, 6) of x[b, c], zero outside. Plain 2-D indexing (the
    loads are strided, so nothing vectorises here; no slices means no per-call view overhead)."""
    H = x.shape[2]
    W = x.shape[3]
    zero = np.float32(0.0)
    inside = y0 >= 0 and y0 + 5 < H
    ok0 = y0 + 0 >= 0 and y0 + 0 < H
    ok1 = y0 + 1 >= 0 and y0 + 1 < H
    ok2 = y0 + 2 >= 0 and y0 + 2 < H
    ok3 = y0 + 3 >= 0 and y0 + 3 < H
    ok4 = y0 + 4 >= 0 and y0 + 4 < H
    ok5 = y0 + 5 >= 0 and y0 + 5 < H
    for l in range(6):
        c0 = cbase + l
        t_lo = 0
        while t_lo < ntx and c0 + t_lo * 4 < 0:
            t_lo += 1
        t_hi = ntx
        while t_hi > t_lo and c0 + (t_hi - 1) * 4 >= W:
            t_hi -= 1
        for t in range(t_lo):
            Q[0 + l, tb + t] = zero
            Q[6 + l, tb + t] = zero
            Q[12 + l, tb + t] = zero
            Q[18 + l, tb + t] = zero
            Q[24 + l, tb + t] = zero
            Q[30 + l, tb + t] = zero
        for t in range(t_hi, ntx):
            Q[0 + l, tb + t] = zero
            Q[6 + l, tb + t] = zero
            Q[12 + l, tb + t] = zero
            Q[18 + l, tb + t] = zero
            Q[24 + l, tb + t] = zero
            Q[30 + l, tb + t] = zero
        if inside:
            for t in range(t_lo, t_hi):
                col = c0 + t * 4
                o0, o1, o2, o3, o4, o5 = _bt4(x[b, c, y0 + 0, col], x[b, c, y0 + 1, col], x[b, c, y0 + 2, col],
                                              x[b, c, y0 + 3, col], x[b, c, y0 + 4, col], x[b, c, y0 + 5, col])
                Q[0 + l, tb + t] = o0
                Q[6 + l, tb + t] = o1
                Q[12 + l, tb + t] = o2
                Q[18 + l, tb + t] = o3
                Q[24 + l, tb + t] = o4
                Q[30 + l, tb + t] = o5
        else:
            for t in range(t_lo, t_hi):
                col = c0 + t * 4
                d0 = x[b, c, y0 + 0, col] if ok0 else zero
                d1 = x[b, c, y0 + 1, col] if ok1 else zero
                d2 = x[b, c, y0 + 2, col] if ok2 else zero
                d3 = x[b, c, y0 + 3, col] if ok3 else zero
                d4 = x[b, c, y0 + 4, col] if ok4 else zero
                d5 = x[b, c, y0 + 5, col] if ok5 else zero
                o0, o1, o2, o3, o4, o5 = _bt4(d0, d1, d2, d3, d4, d5)
                Q[0 + l, tb + t] = o0
                Q[6 + l, tb + t] = o1
                Q[12 + l, tb + t] = o2
                Q[18 + l, tb + t] = o3
                Q[24 + l, tb + t] = o4
                Q[30 + l, tb + t] = o5


@kernel(error_model="python", fastmath=NO_REASSOC)
def _in_rows4(Q, V, c, v0, Tc):
    """V[i*6 + j, c, v0 + t] = (Q_i B)[j] for the Tc tiles of a chunk (vector loops over tiles)."""
    for i in range(6):
        s0 = Q[i * 6 + 0, :Tc]
        s1 = Q[i * 6 + 1, :Tc]
        s2 = Q[i * 6 + 2, :Tc]
        s3 = Q[i * 6 + 3, :Tc]
        s4 = Q[i * 6 + 4, :Tc]
        s5 = Q[i * 6 + 5, :Tc]
        w0 = V[i * 6 + 0, c, v0:v0 + Tc]
        w1 = V[i * 6 + 1, c, v0:v0 + Tc]
        w2 = V[i * 6 + 2, c, v0:v0 + Tc]
        w3 = V[i * 6 + 3, c, v0:v0 + Tc]
        w4 = V[i * 6 + 4, c, v0:v0 + Tc]
        w5 = V[i * 6 + 5, c, v0:v0 + Tc]
        for t in range(Tc):
            o0, o1, o2, o3, o4, o5 = _bt4(s0[t], s1[t], s2[t], s3[t], s4[t], s5[t])
            w0[t] = o0
            w1[t] = o1
            w2[t] = o2
            w3[t] = o3
            w4[t] = o4
            w5[t] = o5


@kernel(error_model="python", fastmath=NO_REASSOC)
def _out_cols4(M, S, k, v0, Tc):
    """S[jo*6 + i, t] = (A^T M_i)[jo] (row i of the tiles' M for output channel k; vector loops)."""
    for i in range(6):
        s0 = M[i * 6 + 0, k, v0:v0 + Tc]
        s1 = M[i * 6 + 1, k, v0:v0 + Tc]
        s2 = M[i * 6 + 2, k, v0:v0 + Tc]
        s3 = M[i * 6 + 3, k, v0:v0 + Tc]
        s4 = M[i * 6 + 4, k, v0:v0 + Tc]
        s5 = M[i * 6 + 5, k, v0:v0 + Tc]
        w0 = S[0 + i, :Tc]
        w1 = S[6 + i, :Tc]
        w2 = S[12 + i, :Tc]
        w3 = S[18 + i, :Tc]
        for t in range(Tc):
            o0, o1, o2, o3 = _at4(s0[t], s1[t], s2[t], s3[t], s4[t], s5[t])
            w0[t] = o0
            w1[t] = o1
            w2[t] = o2
            w3[t] = o3


@kernel(error_model="python", fastmath=NO_REASSOC)
def _out_rows4(S, y, b, k, oy0, tb, x0, ntx, bk, code, p0, p1):
    """y[b, k, oy0 + io, x0 + t*4 + jo] = act((S_jo A)[io] + bk) for the ntx tiles of one tile row, clipped
    at the bottom and right edges (only the last tile row / column can be cut). The strided stores use
    2-D indexing; the activation is a second, contiguous pass over the rows just written (one call site,
    which keeps the compiled code small)."""
    OH = y.shape[2]
    OW = y.shape[3]
    nrows = min(4, OH - oy0)
    last_ox = x0 + (ntx - 1) * 4
    for jo in range(4):
        n = ntx if last_ox + jo < OW else ntx - 1
        if nrows == 4:
            for t in range(n):
                o0, o1, o2, o3 = _at4(S[jo * 6 + 0, tb + t], S[jo * 6 + 1, tb + t], S[jo * 6 + 2, tb + t],
                                      S[jo * 6 + 3, tb + t], S[jo * 6 + 4, tb + t], S[jo * 6 + 5, tb + t])
                ox = x0 + jo + t * 4
                y[b, k, oy0 + 0, ox] = o0 + bk
                y[b, k, oy0 + 1, ox] = o1 + bk
                y[b, k, oy0 + 2, ox] = o2 + bk
                y[b, k, oy0 + 3, ox] = o3 + bk
        else:
            for t in range(n):
                o0, o1, o2, o3 = _at4(S[jo * 6 + 0, tb + t], S[jo * 6 + 1, tb + t], S[jo * 6 + 2, tb + t],
                                      S[jo * 6 + 3, tb + t], S[jo * 6 + 4, tb + t], S[jo * 6 + 5, tb + t])
                ox = x0 + jo + t * 4
                y[b, k, oy0, ox] = o0 + bk
                if 1 < nrows:
                    y[b, k, oy0 + 1, ox] = o1 + bk
                if 2 < nrows:
                    y[b, k, oy0 + 2, ox] = o2 + bk
                if 3 < nrows:
                    y[b, k, oy0 + 3, ox] = o3 + bk
    if code != 0:
        width = min(ntx * 4, OW - x0)
        for io in range(nrows):
            act.apply_row(y[b, k, oy0 + io, x0:x0 + width], code, p0, p1)


@kernel(error_model="python", fastmath=NO_REASSOC)
def _in_cols6(x, b, c, y0, Q, tb, cbase, ntx):
    """Q[i*8 + l, tb + t] = (B^T d_t)[i, l] for the ntx tiles of one tile row: tile t reads input rows
    y0 + [0, 8) and columns cbase + t*6 + [0, 8) of x[b, c], zero outside. Plain 2-D indexing (the
    loads are strided, so nothing vectorises here; no slices means no per-call view overhead)."""
    H = x.shape[2]
    W = x.shape[3]
    zero = np.float32(0.0)
    inside = y0 >= 0 and y0 + 7 < H
    ok0 = y0 + 0 >= 0 and y0 + 0 < H
    ok1 = y0 + 1 >= 0 and y0 + 1 < H
    ok2 = y0 + 2 >= 0 and y0 + 2 < H
    ok3 = y0 + 3 >= 0 and y0 + 3 < H
    ok4 = y0 + 4 >= 0 and y0 + 4 < H
    ok5 = y0 + 5 >= 0 and y0 + 5 < H
    ok6 = y0 + 6 >= 0 and y0 + 6 < H
    ok7 = y0 + 7 >= 0 and y0 + 7 < H
    for l in range(8):
        c0 = cbase + l
        t_lo = 0
        while t_lo < ntx and c0 + t_lo * 6 < 0:
            t_lo += 1
        t_hi = ntx
        while t_hi > t_lo and c0 + (t_hi - 1) * 6 >= W:
            t_hi -= 1
        for t in range(t_lo):
            Q[0 + l, tb + t] = zero
            Q[8 + l, tb + t] = zero
            Q[16 + l, tb + t] = zero
            Q[24 + l, tb + t] = zero
            Q[32 + l, tb + t] = zero
            Q[40 + l, tb + t] = zero
            Q[48 + l, tb + t] = zero
            Q[56 + l, tb + t] = zero
        for t in range(t_hi, ntx):
            Q[0 + l, tb + t] = zero
            Q[8 + l, tb + t] = zero
            Q[16 + l, tb + t] = zero
            Q[24 + l, tb + t] = zero
            Q[32 + l, tb + t] = zero
            Q[40 + l, tb + t] = zero
            Q[48 + l, tb + t] = zero
            Q[56 + l, tb + t] = zero
        if inside:
            for t in range(t_lo, t_hi):
                col = c0 + t * 6
                o0, o1, o2, o3, o4, o5, o6, o7 = _bt6(x[b, c, y0 + 0, col], x[b, c, y0 + 1, col],
                                                      x[b, c, y0 + 2, col], x[b, c, y0 + 3, col],
                                                      x[b, c, y0 + 4, col], x[b, c, y0 + 5, col],
                                                      x[b, c, y0 + 6, col], x[b, c, y0 + 7, col])
                Q[0 + l, tb + t] = o0
                Q[8 + l, tb + t] = o1
                Q[16 + l, tb + t] = o2
                Q[24 + l, tb + t] = o3
                Q[32 + l, tb + t] = o4
                Q[40 + l, tb + t] = o5
                Q[48 + l, tb + t] = o6
                Q[56 + l, tb + t] = o7
        else:
            for t in range(t_lo, t_hi):
                col = c0 + t * 6
                d0 = x[b, c, y0 + 0, col] if ok0 else zero
                d1 = x[b, c, y0 + 1, col] if ok1 else zero
                d2 = x[b, c, y0 + 2, col] if ok2 else zero
                d3 = x[b, c, y0 + 3, col] if ok3 else zero
                d4 = x[b, c, y0 + 4, col] if ok4 else zero
                d5 = x[b, c, y0 + 5, col] if ok5 else zero
                d6 = x[b, c, y0 + 6, col] if ok6 else zero
                d7 = x[b, c, y0 + 7, col] if ok7 else zero
                o0, o1, o2, o3, o4, o5, o6, o7 = _bt6(d0, d1, d2, d3, d4, d5, d6, d7)
                Q[0 + l, tb + t] = o0
                Q[8 + l, tb + t] = o1
                Q[16 + l, tb + t] = o2
                Q[24 + l, tb + t] = o3
                Q[32 + l, tb + t] = o4
                Q[40 + l, tb + t] = o5
                Q[48 + l, tb + t] = o6
                Q[56 + l, tb + t] = o7


@kernel(error_model="python", fastmath=NO_REASSOC)
def _in_rows6(Q, V, c, v0, Tc):
    """V[i*8 + j, c, v0 + t] = (Q_i B)[j] for the Tc tiles of a chunk (vector loops over tiles)."""
    for i in range(8):
        s0 = Q[i * 8 + 0, :Tc]
        s1 = Q[i * 8 + 1, :Tc]
        s2 = Q[i * 8 + 2, :Tc]
        s3 = Q[i * 8 + 3, :Tc]
        s4 = Q[i * 8 + 4, :Tc]
        s5 = Q[i * 8 + 5, :Tc]
        s6 = Q[i * 8 + 6, :Tc]
        s7 = Q[i * 8 + 7, :Tc]
        w0 = V[i * 8 + 0, c, v0:v0 + Tc]
        w1 = V[i * 8 + 1, c, v0:v0 + Tc]
        w2 = V[i * 8 + 2, c, v0:v0 + Tc]
        w3 = V[i * 8 + 3, c, v0:v0 + Tc]
        w4 = V[i * 8 + 4, c, v0:v0 + Tc]
        w5 = V[i * 8 + 5, c, v0:v0 + Tc]
        w6 = V[i * 8 + 6, c, v0:v0 + Tc]
        w7 = V[i * 8 + 7, c, v0:v0 + Tc]
        for t in range(Tc):
            o0, o1, o2, o3, o4, o5, o6, o7 = _bt6(s0[t], s1[t], s2[t], s3[t], s4[t], s5[t], s6[t], s7[t])
            w0[t] = o0
            w1[t] = o1
            w2[t] = o2
            w3[t] = o3
            w4[t] = o4
            w5[t] = o5
            w6[t] = o6
            w7[t] = o7


@kernel(error_model="python", fastmath=NO_REASSOC)
def _out_cols6(M, S, k, v0, Tc):
    """S[jo*8 + i, t] = (A^T M_i)[jo] (row i of the tiles' M for output channel k; vector loops)."""
    for i in range(8):
        s0 = M[i * 8 + 0, k, v0:v0 + Tc]
        s1 = M[i * 8 + 1, k, v0:v0 + Tc]
        s2 = M[i * 8 + 2, k, v0:v0 + Tc]
        s3 = M[i * 8 + 3, k, v0:v0 + Tc]
        s4 = M[i * 8 + 4, k, v0:v0 + Tc]
        s5 = M[i * 8 + 5, k, v0:v0 + Tc]
        s6 = M[i * 8 + 6, k, v0:v0 + Tc]
        s7 = M[i * 8 + 7, k, v0:v0 + Tc]
        w0 = S[0 + i, :Tc]
        w1 = S[8 + i, :Tc]
        w2 = S[16 + i, :Tc]
        w3 = S[24 + i, :Tc]
        w4 = S[32 + i, :Tc]
        w5 = S[40 + i, :Tc]
        for t in range(Tc):
            o0, o1, o2, o3, o4, o5 = _at6(s0[t], s1[t], s2[t], s3[t], s4[t], s5[t], s6[t], s7[t])
            w0[t] = o0
            w1[t] = o1
            w2[t] = o2
            w3[t] = o3
            w4[t] = o4
            w5[t] = o5


@kernel(error_model="python", fastmath=NO_REASSOC)
def _out_rows6(S, y, b, k, oy0, tb, x0, ntx, bk, code, p0, p1):
    """y[b, k, oy0 + io, x0 + t*6 + jo] = act((S_jo A)[io] + bk) for the ntx tiles of one tile row, clipped
    at the bottom and right edges (only the last tile row / column can be cut). The strided stores use
    2-D indexing; the activation is a second, contiguous pass over the rows just written (one call site,
    which keeps the compiled code small)."""
    OH = y.shape[2]
    OW = y.shape[3]
    nrows = min(6, OH - oy0)
    last_ox = x0 + (ntx - 1) * 6
    for jo in range(6):
        n = ntx if last_ox + jo < OW else ntx - 1
        if nrows == 6:
            for t in range(n):
                o0, o1, o2, o3, o4, o5 = _at6(S[jo * 8 + 0, tb + t], S[jo * 8 + 1, tb + t], S[jo * 8 + 2, tb + t],
                                              S[jo * 8 + 3, tb + t], S[jo * 8 + 4, tb + t], S[jo * 8 + 5, tb + t],
                                              S[jo * 8 + 6, tb + t], S[jo * 8 + 7, tb + t])
                ox = x0 + jo + t * 6
                y[b, k, oy0 + 0, ox] = o0 + bk
                y[b, k, oy0 + 1, ox] = o1 + bk
                y[b, k, oy0 + 2, ox] = o2 + bk
                y[b, k, oy0 + 3, ox] = o3 + bk
                y[b, k, oy0 + 4, ox] = o4 + bk
                y[b, k, oy0 + 5, ox] = o5 + bk
        else:
            for t in range(n):
                o0, o1, o2, o3, o4, o5 = _at6(S[jo * 8 + 0, tb + t], S[jo * 8 + 1, tb + t], S[jo * 8 + 2, tb + t],
                                              S[jo * 8 + 3, tb + t], S[jo * 8 + 4, tb + t], S[jo * 8 + 5, tb + t],
                                              S[jo * 8 + 6, tb + t], S[jo * 8 + 7, tb + t])
                ox = x0 + jo + t * 6
                y[b, k, oy0, ox] = o0 + bk
                if 1 < nrows:
                    y[b, k, oy0 + 1, ox] = o1 + bk
                if 2 < nrows:
                    y[b, k, oy0 + 2, ox] = o2 + bk
                if 3 < nrows:
                    y[b, k, oy0 + 3, ox] = o3 + bk
                if 4 < nrows:
                    y[b, k, oy0 + 4, ox] = o4 + bk
                if 5 < nrows:
                    y[b, k, oy0 + 5, ox] = o5 + bk
    if code != 0:
        width = min(ntx * 6, OW - x0)
        for io in range(nrows):
            act.apply_row(y[b, k, oy0 + io, x0:x0 + width], code, p0, p1)


@kernel(fastmath=NO_REASSOC)
def input_transform2(x, V, Q, b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk, c_begin, c_end):
    """F(2,3) input transform of one block (see _input_transform_doc)."""
    C = x.shape[1]
    rows = nb * nty
    rows_per_chunk = max(1, chunk // ntx)
    cbase = tx0 * 2 - pl
    for c in range(max(0, c_begin), min(C, c_end)):  # clamped: the kernel indexes unchecked
        for r0 in range(0, rows, rows_per_chunk):
            r1 = min(rows, r0 + rows_per_chunk)
            for r in range(r0, r1):
                bi = r // nty
                tyi = r - bi * nty
                _in_cols2(x, b0 + bi, c, (ty0 + tyi) * 2 - pt, Q, (r - r0) * ntx, cbase, ntx)
            _in_rows2(Q, V, c, r0 * ntx, (r1 - r0) * ntx)


@kernel(fastmath=NO_REASSOC)
def input_transform4(x, V, Q, b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk, c_begin, c_end):
    """F(4,3) input transform of one block (see _input_transform_doc)."""
    C = x.shape[1]
    rows = nb * nty
    rows_per_chunk = max(1, chunk // ntx)
    cbase = tx0 * 4 - pl
    for c in range(max(0, c_begin), min(C, c_end)):  # clamped: the kernel indexes unchecked
        for r0 in range(0, rows, rows_per_chunk):
            r1 = min(rows, r0 + rows_per_chunk)
            for r in range(r0, r1):
                bi = r // nty
                tyi = r - bi * nty
                _in_cols4(x, b0 + bi, c, (ty0 + tyi) * 4 - pt, Q, (r - r0) * ntx, cbase, ntx)
            _in_rows4(Q, V, c, r0 * ntx, (r1 - r0) * ntx)


@kernel(fastmath=NO_REASSOC)
def input_transform6(x, V, Q, b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk, c_begin, c_end):
    """F(6,3) input transform of one block (see _input_transform_doc)."""
    C = x.shape[1]
    rows = nb * nty
    rows_per_chunk = max(1, chunk // ntx)
    cbase = tx0 * 6 - pl
    for c in range(max(0, c_begin), min(C, c_end)):  # clamped: the kernel indexes unchecked
        for r0 in range(0, rows, rows_per_chunk):
            r1 = min(rows, r0 + rows_per_chunk)
            for r in range(r0, r1):
                bi = r // nty
                tyi = r - bi * nty
                _in_cols6(x, b0 + bi, c, (ty0 + tyi) * 6 - pt, Q, (r - r0) * ntx, cbase, ntx)
            _in_rows6(Q, V, c, r0 * ntx, (r1 - r0) * ntx)


@kernel(fastmath=NO_REASSOC)
def output_transform2(M, y, S, bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk, k_begin, k_end):
    """F(2,3) output transform + bias + activation of one block (see _output_transform_doc)."""
    K = y.shape[1]
    rows = nb * nty
    rows_per_chunk = max(1, chunk // ntx)
    for k in range(max(0, k_begin), min(K, k_end)):  # clamped: the kernel indexes unchecked
        bk = bias[k]
        for r0 in range(0, rows, rows_per_chunk):
            r1 = min(rows, r0 + rows_per_chunk)
            _out_cols2(M, S, k, r0 * ntx, (r1 - r0) * ntx)
            for r in range(r0, r1):
                bi = r // nty
                tyi = r - bi * nty
                _out_rows2(S, y, b0 + bi, k, (ty0 + tyi) * 2, (r - r0) * ntx, tx0 * 2, ntx, bk, code, p0, p1)


@kernel(fastmath=NO_REASSOC)
def output_transform4(M, y, S, bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk, k_begin, k_end):
    """F(4,3) output transform + bias + activation of one block (see _output_transform_doc)."""
    K = y.shape[1]
    rows = nb * nty
    rows_per_chunk = max(1, chunk // ntx)
    for k in range(max(0, k_begin), min(K, k_end)):  # clamped: the kernel indexes unchecked
        bk = bias[k]
        for r0 in range(0, rows, rows_per_chunk):
            r1 = min(rows, r0 + rows_per_chunk)
            _out_cols4(M, S, k, r0 * ntx, (r1 - r0) * ntx)
            for r in range(r0, r1):
                bi = r // nty
                tyi = r - bi * nty
                _out_rows4(S, y, b0 + bi, k, (ty0 + tyi) * 4, (r - r0) * ntx, tx0 * 4, ntx, bk, code, p0, p1)


@kernel(fastmath=NO_REASSOC)
def output_transform6(M, y, S, bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk, k_begin, k_end):
    """F(6,3) output transform + bias + activation of one block (see _output_transform_doc)."""
    K = y.shape[1]
    rows = nb * nty
    rows_per_chunk = max(1, chunk // ntx)
    for k in range(max(0, k_begin), min(K, k_end)):  # clamped: the kernel indexes unchecked
        bk = bias[k]
        for r0 in range(0, rows, rows_per_chunk):
            r1 = min(rows, r0 + rows_per_chunk)
            _out_cols6(M, S, k, r0 * ntx, (r1 - r0) * ntx)
            for r in range(r0, r1):
                bi = r // nty
                tyi = r - bi * nty
                _out_rows6(S, y, b0 + bi, k, (ty0 + tyi) * 6, (r - r0) * ntx, tx0 * 6, ntx, bk, code, p0, p1)


# Threaded transforms: each thread slot takes a contiguous range of channels (neighbouring channels' rows share a
# cache line at their ends: dealing them round-robin made the threads write the same lines) with its own row
# buffer (Qs, Ss: [slots, alpha^2, chunk]); one parallel region per block and stage.
@kernel(parallel=True, fastmath=NO_REASSOC)
def input_transform2_threads(x, V, Qs, b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk):
    slots = Qs.shape[0]
    per = (x.shape[1] + slots - 1) // slots
    for s in prange(slots):
        input_transform2(x, V, Qs[s], b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk, s * per, min(x.shape[1], (s + 1) * per))


@kernel(parallel=True, fastmath=NO_REASSOC)
def input_transform4_threads(x, V, Qs, b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk):
    slots = Qs.shape[0]
    per = (x.shape[1] + slots - 1) // slots
    for s in prange(slots):
        input_transform4(x, V, Qs[s], b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk, s * per, min(x.shape[1], (s + 1) * per))


@kernel(parallel=True, fastmath=NO_REASSOC)
def input_transform6_threads(x, V, Qs, b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk):
    slots = Qs.shape[0]
    per = (x.shape[1] + slots - 1) // slots
    for s in prange(slots):
        input_transform6(x, V, Qs[s], b0, nb, ty0, nty, tx0, ntx, pt, pl, chunk, s * per, min(x.shape[1], (s + 1) * per))


@kernel(parallel=True, fastmath=NO_REASSOC)
def output_transform2_threads(M, y, Ss, bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk):
    slots = Ss.shape[0]
    per = (y.shape[1] + slots - 1) // slots
    for s in prange(slots):
        output_transform2(M, y, Ss[s], bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk, s * per,
                            min(y.shape[1], (s + 1) * per))


@kernel(parallel=True, fastmath=NO_REASSOC)
def output_transform4_threads(M, y, Ss, bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk):
    slots = Ss.shape[0]
    per = (y.shape[1] + slots - 1) // slots
    for s in prange(slots):
        output_transform4(M, y, Ss[s], bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk, s * per,
                            min(y.shape[1], (s + 1) * per))


@kernel(parallel=True, fastmath=NO_REASSOC)
def output_transform6_threads(M, y, Ss, bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk):
    slots = Ss.shape[0]
    per = (y.shape[1] + slots - 1) // slots
    for s in prange(slots):
        output_transform6(M, y, Ss[s], bias, b0, nb, ty0, nty, tx0, ntx, code, p0, p1, chunk, s * per,
                            min(y.shape[1], (s + 1) * per))


INPUT_TRANSFORMS = {2: input_transform2, 4: input_transform4, 6: input_transform6}
OUTPUT_TRANSFORMS = {2: output_transform2, 4: output_transform4, 6: output_transform6}
INPUT_TRANSFORMS_THREADS = {2: input_transform2_threads, 4: input_transform4_threads, 6: input_transform6_threads}
OUTPUT_TRANSFORMS_THREADS = {2: output_transform2_threads, 4: output_transform4_threads,
                             6: output_transform6_threads}


@kernel(fastmath=NO_REASSOC)
def transform_weight_rows(w, rows, C, G, alpha, out, gt, t):
    """U = G g G^T for `rows` output channels, computed at run time for the lean (memory="low") Winograd:
    out[((i * alpha + j) * rows + r) * C + c] = sum_pq G[i, p] w[r, c, p, q] G[j, q], with w flat [rows, C, 3, 3]
    (a fp32 weight's rows in place, or a compressed weight's expanded panel) and G flat [alpha, 3] float32.
    The 3x3 filters are first transposed to [9][C] (gt: 9 * C floats) so both passes (t: 3 * alpha * C floats)
    run over C contiguously and vectorise: 162 multiply-adds per (row, channel) for F(4,3)."""
    Cu = np.uint64(C)
    for r in range(rows):
        base = np.uint64(r) * Cu * np.uint64(9)
        for c in range(Cu):
            for e in range(9):
                gt[np.uint64(e) * Cu + c] = w[base + c * np.uint64(9) + np.uint64(e)]
        for p in range(3):  # t[p, j, c] = sum_q g[p, q] G[j, q]
            s0 = np.uint64(p * 3) * Cu
            s1 = s0 + Cu
            s2 = s1 + Cu
            for j in range(alpha):
                g0, g1, g2 = G[j * 3], G[j * 3 + 1], G[j * 3 + 2]
                d = np.uint64(p * alpha + j) * Cu
                for c in range(Cu):
                    t[d + c] = g0 * gt[s0 + c] + g1 * gt[s1 + c] + g2 * gt[s2 + c]
        for i in range(alpha):  # out[i, j, c] = sum_p G[i, p] t[p, j, c]
            h0, h1, h2 = G[i * 3], G[i * 3 + 1], G[i * 3 + 2]
            for j in range(alpha):
                t0 = np.uint64(j) * Cu
                t1 = np.uint64(alpha + j) * Cu
                t2 = np.uint64(2 * alpha + j) * Cu
                d = (np.uint64(i * alpha + j) * np.uint64(rows) + np.uint64(r)) * Cu
                for c in range(Cu):
                    out[d + c] = h0 * t[t0 + c] + h1 * t[t1 + c] + h2 * t[t2 + c]
