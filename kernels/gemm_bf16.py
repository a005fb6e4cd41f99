"""bf16 GEMM for precision="low" on CPUs with AVX512-BF16: C[M, N] (fp32) = A[M, K] @ B[K, N], both operands
rounded to bfloat16, products summed in fp32.

`vdpbf16ps` multiplies 32 bf16 pairs and adds each pair's two products into one of 16 fp32 lanes: twice the
multiply-adds of an fp32 FMA per instruction. It wants k in pairs: a 32-bit word holds (x[k], x[k+1]) with the
even k in the low half. So A (weights) is packed once into 8-row panels of such pair words (pack_a_bf16), and B
(activations) is converted and packed per call into 32-column panels of pair words (_pack_b). The micro-kernel
is the fp32 one's shape (kernels/gemm.py: 8 x 32 tile of C in 16 zmm accumulators), with one pair broadcast and
two `vdpbf16ps` per row and k-pair. Rounding fp32 -> bf16 is to nearest even, as `vcvtneps2bf16` does.

Only reached when jitmnn.cpu reports avx512_bf16 (the planner checks); a CPU without it never runs this code.
Shapes and buffer sizes are checked in the wrappers; the kernels index without bounds checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import helper, kernel
from .conv import im2col_tile
from .gemm import _store_tile
from .half import load
from .simd import _element_pointer, vbroadcast, vec16, vload, vstore, vzero

MR = 8
NR = 32
KC = 256  # k values per slab (even): a packed B panel is KC/2 x 32 words = 16 KB, inside L1 with its A panel

_VEC = ir.VectorType(ir.FloatType(), 16)
_I32X16 = ir.VectorType(ir.IntType(32), 16)


@intrinsic
def _float_bits(typingctx, value):
    """The IEEE bits of a float32, as uint32 (one LLVM bitcast)."""
    if value != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(value), codegen


@intrinsic
def _vdpbf16(typingctx, acc, a, b):
    """acc + a.lo * b.lo + a.hi * b.hi per lane, a and b holding bf16 pairs (llvm.x86.avx512bf16.dpbf16ps.512;
    declared with its <16 x i32> operands, which LLVM upgrades to the bfloat form)."""
    if not (acc == vec16 and a == vec16 and b == vec16):
        return None

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_VEC, [_VEC, _I32X16, _I32X16])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512bf16.dpbf16ps.512")
        return builder.call(fn, [args[0], builder.bitcast(args[1], _I32X16), builder.bitcast(args[2], _I32X16)])

    return vec16(acc, a, b), codegen


_I16X16 = ir.VectorType(ir.IntType(16), 16)


@intrinsic
def _vload_row(typingctx, arr, idx):
    """16 activations arr[idx:idx + 16] as <16 x float>: float32 as is, fp16 bits (uint16) widened exactly."""
    if not (isinstance(arr, types.Array) and arr.dtype in (types.float32, types.uint16)
            and isinstance(idx, types.Integer)):
        return None
    half = arr.dtype == types.uint16

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        if not half:
            return builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=4)
        bits = builder.load(builder.bitcast(ptr, _I16X16.as_pointer()), align=2)
        return builder.fpext(builder.bitcast(bits, ir.VectorType(ir.HalfType(), 16)), _VEC)

    return vec16(arr, idx), codegen


def _bf16_lanes(builder, v):
    """<16 x float> -> <16 x i32> holding bf16 bits (round to nearest even; a NaN stays a quiet NaN), the vector
    twin of to_bf16."""
    def splat(x):
        return ir.Constant(_I32X16, [x] * 16)

    bits = builder.bitcast(v, _I32X16)
    lsb = builder.and_(builder.lshr(bits, splat(16)), splat(1))
    rounded = builder.lshr(builder.add(builder.add(bits, splat(0x7FFF)), lsb), splat(16))
    is_nan = builder.icmp_unsigned(">", builder.and_(bits, splat(0x7FFFFFFF)), splat(0x7F800000))
    quiet = builder.or_(builder.lshr(bits, splat(16)), splat(0x40))
    return builder.select(is_nan, quiet, rounded)


@intrinsic
def _vstore_pairs(typingctx, out, idx, lo, hi):
    """out[idx:idx + 16] = bf16(lo) | bf16(hi) << 16, lane by lane (out: uint32 pair words)."""
    if not (isinstance(out, types.Array) and out.dtype == types.uint32 and lo == vec16 and hi == vec16):
        return None

    def codegen(context, builder, sig, args):
        words = builder.or_(_bf16_lanes(builder, args[2]),
                            builder.shl(_bf16_lanes(builder, args[3]), ir.Constant(_I32X16, [16] * 16)))
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(words, builder.bitcast(ptr, _I32X16.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.none(out, idx, lo, hi), codegen


@helper
def to_bf16(v):
    """float32 -> bf16 bits (uint32 holding 16 bits), round to nearest even; a NaN stays a (quiet) NaN."""
    bits = _float_bits(np.float32(v))
    if (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
        return (bits >> np.uint32(16)) | np.uint32(0x40)
    return (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)


def k_pairs(k: int) -> int:
    return (k + 1) // 2


def packed_a_size(m: int, k: int) -> int:
    """Pair words of A packed by pack_a_bf16."""
    return -(-m // MR) * k_pairs(k) * MR


def packed_b_size(k: int, n: int) -> int:
    """Pair words of scratch gemm_bf16 packs B into (all of it: panel-major, zero-padded)."""
    return -(-n // NR) * k_pairs(k) * NR


@kernel
def _pack_a(a, m, k, out):
    """out[(i // MR) * k2 * MR + p * MR + i % MR] = bf16(a[i, 2p]) | bf16(a[i, 2p + 1]) << 16; zero padding."""
    k2 = (k + 1) // 2
    for mb in range((m + MR - 1) // MR):
        base = mb * k2 * MR
        for p in range(k2):
            for r in range(MR):
                i = mb * MR + r
                lo = np.uint32(0)
                hi = np.uint32(0)
                if i < m:
                    lo = to_bf16(a[i, 2 * p])
                    if 2 * p + 1 < k:
                        hi = to_bf16(a[i, 2 * p + 1])
                out[base + p * MR + r] = lo | (hi << np.uint32(16))


@kernel
def _pack_b(b, ldb, col0, k, n, out):
    """B[kk, j] = b[kk * ldb + col0 + j] (float32, or fp16 bits) for j < n, into 32-column panels of pair words:
    out[nb * k2 * 32 + p * 32 + c] = bf16(B[2p, nb*32 + c]) | bf16(B[2p+1, nb*32 + c]) << 16, zero-padded."""
    _pack_b_rows(b, ldb, col0, k, n, out, 0, (k + 1) // 2)


@kernel
def _pack_b_rows(b, ldb, col0, k, n, out, p_off, k2_total):
    """_pack_b of a block of k rows that are pairs p_off.. of a B with k2_total pairs (panel stride k2_total * 32)."""
    k2 = (k + 1) // 2
    npanels = (n + NR - 1) // NR
    for nb in range(npanels):
        j0 = nb * NR
        w = min(NR, n - j0)
        base = nb * k2_total * NR + p_off * NR
        for p in range(k2):
            r0 = np.uint64(2 * p * ldb + col0 + j0)
            dst = np.uint64(base + p * NR)
            if w == NR and 2 * p + 1 < k:  # a whole panel row: 2 x 16 lanes in vector registers
                r1 = r0 + np.uint64(ldb)
                _vstore_pairs(out, dst, _vload_row(b, r0), _vload_row(b, r1))
                _vstore_pairs(out, dst + np.uint64(16), _vload_row(b, r0 + np.uint64(16)),
                              _vload_row(b, r1 + np.uint64(16)))
                continue
            if 2 * p + 1 < k:
                r1 = r0 + np.uint64(ldb)
                for c in range(np.uint64(w)):
                    out[dst + c] = to_bf16(load(b, r0 + c)) | (to_bf16(load(b, r1 + c)) << np.uint32(16))
            else:
                for c in range(np.uint64(w)):
                    out[dst + c] = to_bf16(load(b, r0 + c))
            for c in range(np.uint64(w), np.uint64(NR)):
                out[dst + c] = np.uint32(0)


def im2col_block_channels(taps: int) -> int:
    """Channels per block of the fused gather-and-pack: about 32 im2col rows, an even number when a channel has an
    odd number of taps (so every block starts on a pair)."""
    cb = max(1, 32 // taps)
    return cb + (cb % 2) if taps % 2 else cb


@kernel
def _im2col_pack(x3, kh, kw, col0, n, OW, sh, sw, ph, pw, dh, dw, cb, blockbuf, out):
    """_pack_b of the im2col matrix of x3 ([C, H, W], float32 or fp16 bits) for output pixels col0..col0+n, cb
    channels at a time through blockbuf (cb * kh * kw * n floats: stays in L1/L2), so the column matrix never
    goes through memory whole."""
    C, H, W = x3.shape
    taps = kh * kw
    k2 = (C * taps + 1) // 2
    xf = x3.reshape(-1)
    for c0 in range(0, C, cb):
        c1 = min(C, c0 + cb)
        rows = (c1 - c0) * taps
        block = blockbuf[:rows * n].reshape(rows, n)
        im2col_tile(xf[c0 * H * W:c1 * H * W].reshape(c1 - c0, H, W), block, col0, n, OW, kh, kw, sh, sw, ph, pw,
                    dh, dw)
        _pack_b_rows(block.reshape(-1), n, 0, rows, n, out, (c0 * taps) // 2, k2)


@kernel
def _micro_8x32(ap, a_off, a_row, a_pair, rows, bp, b_off, kc2, tile):
    """tile[8 * 32] = 8 rows of A (row r, pair p at ap[a_off + r * a_row + p * a_pair]; rows past `rows` re-read
    the last valid row, their results are not stored) times a packed B panel (kc2 x 32 pair words):
    16 fp32 accumulators, 2 loads + 8 pair broadcasts + 16 vdpbf16ps per k-pair."""
    last = rows - 1
    a0 = a_off
    a1 = a_off + min(1, last) * a_row
    a2 = a_off + min(2, last) * a_row
    a3 = a_off + min(3, last) * a_row
    a4 = a_off + min(4, last) * a_row
    a5 = a_off + min(5, last) * a_row
    a6 = a_off + min(6, last) * a_row
    a7 = a_off + min(7, last) * a_row
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
    for p in range(kc2):
        bo = b_off + p * NR
        b0 = vload(bp, bo)
        b1 = vload(bp, bo + 16)
        ao = p * a_pair
        a = vbroadcast(ap, a0 + ao)
        c00 = _vdpbf16(c00, a, b0)
        c01 = _vdpbf16(c01, a, b1)
        a = vbroadcast(ap, a1 + ao)
        c10 = _vdpbf16(c10, a, b0)
        c11 = _vdpbf16(c11, a, b1)
        a = vbroadcast(ap, a2 + ao)
        c20 = _vdpbf16(c20, a, b0)
        c21 = _vdpbf16(c21, a, b1)
        a = vbroadcast(ap, a3 + ao)
        c30 = _vdpbf16(c30, a, b0)
        c31 = _vdpbf16(c31, a, b1)
        a = vbroadcast(ap, a4 + ao)
        c40 = _vdpbf16(c40, a, b0)
        c41 = _vdpbf16(c41, a, b1)
        a = vbroadcast(ap, a5 + ao)
        c50 = _vdpbf16(c50, a, b0)
        c51 = _vdpbf16(c51, a, b1)
        a = vbroadcast(ap, a6 + ao)
        c60 = _vdpbf16(c60, a, b0)
        c61 = _vdpbf16(c61, a, b1)
        a = vbroadcast(ap, a7 + ao)
        c70 = _vdpbf16(c70, a, b0)
        c71 = _vdpbf16(c71, a, b1)
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
def _gemm(ap, a_panel, a_row, a_pair, bp, m, k, n, c, ldc, j_off, tile):
    """c[:m, j_off:j_off + n] (flat, row-major, ldc columns) = A @ B, B packed by _pack_b for these n columns; row
    panel mb of A starts at mb * a_panel. KC-deep slabs: a B panel stays in L1 while the A panels stream past it."""
    k2 = (k + 1) // 2
    nmb = (m + MR - 1) // MR
    for p0 in range(0, k2, KC // 2):
        kc2 = min(KC // 2, k2 - p0)
        for nb in range((n + NR - 1) // NR):
            j0 = nb * NR
            width = min(NR, n - j0)
            for mb in range(nmb):
                i0 = mb * MR
                rows = min(MR, m - i0)
                _micro_8x32(ap, mb * a_panel + p0 * a_pair, a_row, a_pair, rows, bp, nb * k2 * NR + p0 * NR, kc2,
                            tile)
                _store_tile(c, tile, i0, j_off + j0, rows, width, ldc, p0 > 0)


@kernel(parallel=True)
def _gemm_parallel(ap, a_panel, a_row, a_pair, bp, m, k, n, c, tiles, nchunks):
    """_gemm over threads: the 8 x 32 output tiles (row panel major) are cut into nchunks contiguous runs, one per
    thread (static), each with its own micro-tile scratch; a thread keeps its A panel while walking the column
    panels. Splitting tiles rather than row panels keeps a conv with few output channels (3 row panels at 24)
    balanced."""
    k2 = (k + 1) // 2
    nmb = (m + MR - 1) // MR
    npan = (n + NR - 1) // NR
    total = nmb * npan
    for ch in prange(nchunks):
        tile = tiles[ch * MR * NR:(ch + 1) * MR * NR]
        for t in range(ch * total // nchunks, (ch + 1) * total // nchunks):
            mb = t // npan
            nb = t - mb * npan
            i0 = mb * MR
            rows = min(MR, m - i0)
            for p0 in range(0, k2, KC // 2):
                kc2 = min(KC // 2, k2 - p0)
                _micro_8x32(ap, mb * a_panel + p0 * a_pair, a_row, a_pair, rows, bp, nb * k2 * NR + p0 * NR, kc2,
                            tile)
                _store_tile(c, tile, i0, nb * NR, rows, min(NR, n - nb * NR), n, p0 > 0)


@kernel(parallel=True)
def _conv_tile_parallel(ap, a_panel, a_row, a_pair, m, x3, pointwise, col0, n, OW, kh, kw, sh, sw, ph, pw, dh, dw,
                        cols, bpack, c, tiles, nchunks):
    """One output tile of a conv (pixels col0..col0+n) on nchunks threads: the tile's columns are cut into
    nchunks runs of whole 32-column panels, and each thread gathers its own im2col columns (or, pointwise, reads
    the input rows), packs them and multiplies all of A into its columns of c ([m, n], row-major). Nothing runs
    serially between the gather and the GEMM, and threads share no scratch: thread ch owns cols[rows * j0:
    rows * j1], its panels of bpack and its micro-tile."""
    C = x3.shape[0]
    k = C * kh * kw
    k2 = (k + 1) // 2
    npan = (n + NR - 1) // NR
    xf = x3.reshape(-1)
    cf = c.reshape(-1)
    P = x3.shape[1] * x3.shape[2]
    for ch in prange(nchunks):
        pan0 = ch * npan // nchunks
        pan1 = (ch + 1) * npan // nchunks
        j0 = pan0 * NR
        w = min(pan1 * NR, n) - j0
        if w <= 0:
            continue
        bp = bpack[pan0 * k2 * NR:pan1 * k2 * NR]
        if pointwise:
            _pack_b(xf, P, col0 + j0, k, w, bp)
        else:
            chunk = cols[k * j0:k * (j0 + w)].reshape(k, w)
            im2col_tile(x3, chunk, col0 + j0, w, OW, kh, kw, sh, sw, ph, pw, dh, dw)
            _pack_b(chunk.reshape(-1), w, 0, k, w, bp)
        _gemm(ap, a_panel, a_row, a_pair, bp, m, k, w, cf, n, j0, tiles[ch * MR * NR:(ch + 1) * MR * NR])


# ----- checked wrappers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bf16Weights:
    """A [m, k] as bf16 pair words: row i, pair p at words[(i // 8) * panel + (i % 8) * row + p * pair].
    Packed (pack_a_bf16: 8-row panels, zero-padded) or read in place from bf16 weights stored row-major
    (weights_in_place: nothing copied)."""

    words: np.ndarray
    m: int
    k: int
    panel: int
    row: int
    pair: int


def pack_a_bf16(a: np.ndarray) -> Bf16Weights:
    """The weights [M, K] (float32) as 8-row panels of bf16 pair words (done once, at prepare)."""
    a = np.ascontiguousarray(a, np.float32)
    if a.ndim != 2:
        raise ValueError(f"pack_a_bf16 takes a 2-D array, got shape {a.shape}")
    m, k = a.shape
    out = np.empty(packed_a_size(m, k), np.uint32)
    _pack_a(a, m, k, out)
    return Bf16Weights(out, m, k, k_pairs(k) * MR, 1, MR)


def weights_in_place(bits: np.ndarray) -> Bf16Weights:
    """bf16 weights stored row-major ([m, k] uint16 bits, k even) read as pair words where they lie: the even
    k of each pair is the low half of a little-endian 32-bit word, as vdpbf16ps wants."""
    if bits.ndim != 2 or bits.dtype != np.uint16 or bits.shape[1] % 2 or not bits.flags.c_contiguous:
        raise ValueError(f"weights_in_place needs C-contiguous [m, even k] uint16 bf16 bits, got {bits.shape} "
                         f"{bits.dtype}")
    m, k = bits.shape
    return Bf16Weights(bits.reshape(-1).view(np.uint32), m, k, MR * (k // 2), k // 2, 1)


def tiles_size(threads: int) -> int:
    """float32 micro-tile scratch for a GEMM on `threads` threads (one 8 x 32 tile each)."""
    return max(1, threads) * MR * NR


def _words_hold(a: Bf16Weights, k: int) -> bool:
    """a's words reach its last row and pair, for k columns (a wrong layout is a ValueError, not a stray read)."""
    m = a.m
    last = ((m - 1) // MR) * a.panel + ((m - 1) % MR) * a.row + (k_pairs(k) - 1) * a.pair if m and k else -1
    return a.k == k and a.words.dtype == np.uint32 and last < a.words.size


def _check_image(x3: np.ndarray, who: str) -> None:
    if x3.ndim != 3 or not x3.flags.c_contiguous or x3.dtype not in (np.float32, np.uint16):
        raise ValueError(f"{who}: x3 must be a C-contiguous [C, H, W] float32/uint16 array, got {x3.shape} "
                         f"{x3.dtype}")


def _check_tiles(tiles: np.ndarray, threads: int) -> None:
    if tiles.size < tiles_size(threads) or tiles.dtype != np.float32:
        raise ValueError(f"gemm_bf16: tiles need {tiles_size(threads)} float32 for {threads} thread(s), got "
                         f"{tiles.size} {tiles.dtype}")


def gemm_packed_b(a: Bf16Weights, bpack: np.ndarray, n: int, c: np.ndarray, tiles: np.ndarray,
                  threads: int = 1) -> None:
    """c[m, n] = A @ B, B already packed by pack_b for a.k rows and n columns; threads > 1 splits the output
    tiles over that many Numba threads (tiles: tiles_size(threads) float32)."""
    m, k = a.m, a.k
    if not _words_hold(a, k) or c.shape != (m, n) or not c.flags.c_contiguous \
            or c.dtype != np.float32 or bpack.size < packed_b_size(k, n) or bpack.dtype != np.uint32:
        raise ValueError(f"gemm_bf16: A {m}x{k} in {a.words.size} words, c {c.shape} {c.dtype} for n={n}, "
                         f"bpack {bpack.size} {bpack.dtype}")
    _check_tiles(tiles, threads)
    if m == 0 or n == 0:
        return
    if k == 0:
        c[...] = 0.0
        return
    if threads > 1:
        _gemm_parallel(a.words, a.panel, a.row, a.pair, bpack, m, k, n, c.reshape(-1), tiles, threads)
    else:
        _gemm(a.words, a.panel, a.row, a.pair, bpack, m, k, n, c.reshape(-1), n, 0, tiles)


def pack_b(b: np.ndarray, col0: int, n: int, bpack: np.ndarray) -> None:
    """Columns col0..col0+n of b (C-contiguous [k, ldb], float32 or fp16 bits) into bpack as bf16 pair panels."""
    if b.ndim != 2 or not b.flags.c_contiguous or b.dtype not in (np.float32, np.uint16):
        raise ValueError(f"gemm_bf16: b must be a C-contiguous 2-D float32/uint16 array, got {b.shape} {b.dtype}")
    k, ldb = b.shape
    if not (0 <= col0 and n >= 0 and col0 + n <= ldb) or bpack.size < packed_b_size(k, n) or bpack.dtype != np.uint32:
        raise ValueError(f"gemm_bf16: columns {col0}:{col0 + n} of {ldb}, bpack {bpack.size} {bpack.dtype}")
    if k and n:
        _pack_b(b.reshape(-1), ldb, col0, k, n, bpack)


def pack_b_im2col(x3: np.ndarray, kh: int, kw: int, strides, pads, dilations, OW: int, col0: int, n: int,
                  bpack: np.ndarray, blockbuf: np.ndarray) -> None:
    """The im2col matrix of x3 ([C, H, W] float32 or fp16 bits) for output pixels col0..col0+n, packed as bf16 pair
    panels a few channels at a time (blockbuf: im2col_block_channels(kh * kw) * kh * kw * n float32)."""
    _check_image(x3, "pack_b_im2col")
    C = x3.shape[0]
    taps = kh * kw
    cb = im2col_block_channels(taps)
    if min(strides + tuple(dilations) + (kh, kw, OW)) < 1 or n < 0 or col0 < 0 \
            or bpack.size < packed_b_size(C * taps, n) or bpack.dtype != np.uint32 \
            or blockbuf.size < min(cb, C) * taps * n or blockbuf.dtype != np.float32:
        raise ValueError(f"pack_b_im2col: x3 {x3.shape}, kernel {kh}x{kw}, strides {strides}, pixels {col0}:{col0 + n} "
                         f"(OW {OW}), bpack {bpack.size}, blockbuf {blockbuf.size}")
    if C and n:
        _im2col_pack(x3, kh, kw, col0, n, OW, strides[0], strides[1], pads[0], pads[1], dilations[0], dilations[1],
                     cb, blockbuf, bpack)


def conv_tile_bf16_threads(a: Bf16Weights, x3: np.ndarray, pointwise: bool, col0: int, n: int, OW: int, kh: int,
                           kw: int, strides, pads, dilations, cols: np.ndarray, bpack: np.ndarray, c: np.ndarray,
                           tiles: np.ndarray, threads: int) -> None:
    """c[m, n] = A @ (im2col of x3 for output pixels col0..col0+n), im2col, packing and GEMM split by columns over
    `threads` Numba threads (_conv_tile_parallel). x3: [C, H, W] float32 or fp16 bits; cols: C*kh*kw * n float32
    (unused when pointwise); bpack: packed_b_size(C*kh*kw, n) words; tiles: tiles_size(threads) float32."""
    _check_image(x3, "conv_tile_bf16_threads")
    C, H, W = x3.shape
    k = C * kh * kw
    (sh, sw), (dh, dw) = strides, dilations
    ph, pw = pads[0], pads[1]
    OH = (H + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1 if min(sh, sw, dh, dw, kh, kw) > 0 else 0
    m = a.m
    if not _words_hold(a, k) or OH < 1 or OW < 1 \
            or not (0 <= col0 and 0 <= n and col0 + n <= OH * OW) or (pointwise and OH * OW != H * W) \
            or c.shape != (m, n) or not c.flags.c_contiguous or c.dtype != np.float32 \
            or (not pointwise and (cols.size < k * n or cols.dtype != np.float32)) \
            or bpack.size < packed_b_size(k, n) or bpack.dtype != np.uint32 or threads < 1:
        raise ValueError(f"conv_tile_bf16_threads: A {m}x{a.k} ({a.words.size} words) for x {x3.shape} kernel "
                         f"{kh}x{kw}, pixels {col0}:{col0 + n} of {OH}x{OW}, c {c.shape} {c.dtype}, cols {cols.size}, "
                         f"bpack {bpack.size}")
    _check_tiles(tiles, threads)
    if m == 0 or n == 0:
        return
    _conv_tile_parallel(a.words, a.panel, a.row, a.pair, m, x3, pointwise, col0, n, OW, kh, kw, sh, sw, ph, pw, dh,
                        dw, cols, bpack, c, tiles, threads)


def gemm_bf16(a: Bf16Weights, b: np.ndarray, col0: int, n: int, c: np.ndarray, bpack: np.ndarray,
              tiles: np.ndarray, threads: int = 1) -> None:
    """c[m, n] = A @ b[:, col0:col0 + n] in bf16 x bf16 -> fp32. b: a C-contiguous [k, ldb] float32 array or fp16
    bits (uint16); bpack: packed_b_size(k, n) uint32 words of scratch; tiles: tiles_size(threads) float32."""
    if b.ndim != 2 or b.shape[0] != a.k:
        raise ValueError(f"gemm_bf16: b must have k={a.k} rows, got {b.shape}")
    pack_b(b, col0, n, bpack)
    gemm_packed_b(a, bpack, n, c, tiles, threads)


def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """x rounded to bf16 values (as float32): what the kernel multiplies (numpy twin of to_bf16, for tests)."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    nan = np.isnan(x)
    out = rounded.view(np.float32).copy()
    out[nan] = np.nan
    return out
