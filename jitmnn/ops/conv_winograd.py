"""Winograd F(2,3), F(4,3), F(6,3) as algorithms of the Conv op (3x3, stride 1, dilation 1, group 1).

pack: U[alpha^2][K][C] = G g G^T (float32; alpha^2/9 of the weight bytes: 1.78x / 4x / 7.1x).
run, per block of tiles: input transform into V[alpha^2][C][tiles] (Numba), one batched BLAS GEMM
M[a] = U[a] @ V[a] (np.matmul, out= in scratch), output transform + bias + activation into the output
view (Numba). Blocks are whole images, whole tile rows or parts of a tile row, sized so V + M stay under
WINOGRAD_BLOCK_BYTES; scratch_bytes(ctx) is exactly the layout run() uses.

These need a transformed weight copy and large scratch (big_buffers: memory="low" refuses them);
F(6,3)'s larger transform coefficients cost accuracy, so precision="high" excludes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import jitmnn.ops.conv  # noqa: F401  (registers the Conv op before its algorithms)
from jitmnn import config as jconfig
from jitmnn.kernels import conv_gemm as KCG
from jitmnn.kernels import winograd as KW

from .conv import (act_args, bias_bytes, compute_threads, conv_geometry, const_value, gemm_cost_us, pack_bias,
                   run_bias, weight_is_const_f32)
from .registry import Algorithm, register_algorithm
from .registry import algorithms as registry_algorithms

# V + M bytes per block of tiles (the bulk of the scratch). Bigger blocks give wider GEMMs; measured F(4,3)
# at 64@56 / 128@56 / 256@28 (1 thread): 1 MB blocks +17/+30/+28%, 2 MB +10/+17/+26%, 8 MB -0/-8/-0%
# vs 4 MB; 4 MB keeps the scratch of a 56x56x64 layer in one block (3.6 MB) without growing further.
WINOGRAD_BLOCK_BYTES = 4 << 20
# Tiles per chunk of the kernels' vector passes: bounds the Q/S row buffer (alpha^2 x chunk floats).
# Measured: wider chunks only got faster (per-loop overhead dominates), so this is a memory bound.
WINOGRAD_CHUNK_TILES = 1024

# Cost model. Two absolute models of measured time on this machine (1 thread, thread CPU time, fitted by
# `benchmarks/winograd_layers.py --extra --fit` on 15 3x3 layers x 3 units):
#  - Winograd: conv.gemm_cost_us (FLOP rate with thread scaling, streaming of the weight operand U[a] --
#    what sinks Winograd on 7x7 maps with many channels -- and per-call overhead) for each of the
#    alpha^2 GEMMs of every block, times a factor; plus a time per tile and channel (C + K) for each
#    unit's transforms and a per-(tile row, channel) loop overhead;
#  - im2col: a time per GEMM MFLOP (thread-scaled like conv.gemm_cost_us), per im2col column element,
#    per output element, and a fixed cost.
# cost(ctx) is conv.py's own im2col estimate times the ratio of the two: it is comparable with the im2col
# cost by construction, and the planner's im2col-vs-Winograd choice follows the measured ratio (14 of the
# 15 fitted layers; the miss is F(2,3) vs F(4,3) at 64@14, within 2%) even where the im2col estimate is
# off in absolute terms (measured/estimated im2col time ranged 1.0-2.3x here).
WINOGRAD_COST = {"gemm_factor": 0.604, "ns_row": 132.1, "ns_tile": {2: 19.0, 4: 63.3, 6: 147.3}}
IM2COL_FIT = {"us_per_gemm_mflop": 13.80, "ns_per_column_element": 0.529, "ns_per_output": 0.059,
              "fixed_us": 149.7}

# Speed-up charged per extra thread when the stages run threaded (measured 1.7-1.9x at 2 threads).
THREAD_EFFICIENCY = 0.9

UNITS = {"winograd_f23": 2, "winograd_f43": 4, "winograd_f63": 6}
TIERS = {"winograd_f23": "F32", "winograd_f43": "WINOGRAD_F43", "winograd_f63": "WINOGRAD_F63"}


def _align(n: int) -> int:
    a = jconfig.ARENA_ALIGN
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class WinogradParams:
    """One plan's Winograd layout: tiles, blocks and scratch offsets (bytes) of V, M and the row buffers."""

    m: int
    alpha: int
    N: int
    C: int
    K: int
    H: int
    W: int
    OH: int
    OW: int
    pt: int
    pl: int
    nty: int
    ntx: int
    blocks: tuple  # ((b0, nb, ty0, nty, tx0, ntx), ...)
    max_tiles: int
    chunk_tiles: int  # width of the Q row buffer
    v_off: int
    m_off: int
    q_off: int
    scratch_bytes: int
    code: int
    p0: np.float32
    p1: np.float32
    # threads: 1 = serial transforms and one batched BLAS GEMM; more = every stage a parallel region over
    # `slots` threads (channels, and the alpha^2 products on jitmnn's own micro-kernel), each with its own row
    # buffer (Q at q_off, slots of alpha^2 x chunk) and micro-kernel scratch (at e_off: edge panels, micro-tiles)
    slots: int = 1
    e_off: int = 0


def plan_blocks(N: int, nty: int, ntx: int, bytes_per_tile: int, budget: int) -> tuple:
    """Rectangular tile blocks covering every image: several whole images if they fit the budget, else
    balanced groups of whole tile rows, else balanced pieces of one tile row (at least one tile)."""
    per_image = nty * ntx * bytes_per_tile
    blocks = []
    if per_image <= budget:
        nb = min(N, max(1, budget // per_image))
        nblk = -(-N // nb)
        nb = -(-N // nblk)
        for b0 in range(0, N, nb):
            blocks.append((b0, min(nb, N - b0), 0, nty, 0, ntx))
    elif ntx * bytes_per_tile <= budget:
        rows = budget // (ntx * bytes_per_tile)
        nblk = -(-nty // rows)
        rows = -(-nty // nblk)
        for b in range(N):
            for ty0 in range(0, nty, rows):
                blocks.append((b, 1, ty0, min(rows, nty - ty0), 0, ntx))
    else:
        cols = max(1, budget // bytes_per_tile)
        nblk = -(-ntx // cols)
        cols = -(-ntx // nblk)
        for b in range(N):
            for ty in range(nty):
                for tx0 in range(0, ntx, cols):
                    blocks.append((b, 1, ty, 1, tx0, min(cols, ntx - tx0)))
    return tuple(blocks)


def _applies(ctx) -> bool:
    if not weight_is_const_f32(ctx):
        return False
    g = conv_geometry(ctx)
    return (g.rank == 2 and g.kh == 3 and g.kw == 3 and g.strides == (1, 1) and g.dilations == (1, 1)
            and g.group == 1)


def make_params(ctx, m: int) -> WinogradParams:
    return tile_layout(ctx, m, conv_geometry(ctx).K, WINOGRAD_BLOCK_BYTES)


def tile_layout(ctx, m: int, k_rows: int, block_bytes: int) -> WinogradParams:
    """Blocks of tiles and the scratch layout for products of k_rows output channels at a time (all K here; a
    channel block in the lean variant, which adds its own regions after scratch_bytes)."""
    g = conv_geometry(ctx)
    alpha = m + 2
    a2 = alpha * alpha
    nty, ntx = -(-g.OH // m), -(-g.OW // m)
    blocks = plan_blocks(g.N, nty, ntx, 4 * a2 * (g.C + k_rows), block_bytes)
    max_tiles = max(b[1] * b[3] * b[5] for b in blocks)
    # the kernels' chunk: whole tile rows, max(1, WINOGRAD_CHUNK_TILES // ntx) of them, within the block
    chunk = max(min(b[1] * b[3], max(1, WINOGRAD_CHUNK_TILES // b[5])) * b[5] for b in blocks)
    slots = winograd_slots(ctx, g)
    v_off = 0
    m_off = v_off + _align(4 * a2 * g.C * max_tiles)
    q_off = m_off + _align(4 * a2 * k_rows * max_tiles)
    e_off = q_off + _align(4 * slots * a2 * chunk)
    total = e_off + (_align(4 * slots * (g.C * KCG.NR + KCG.MR * KCG.NR) + 4 * k_rows) if slots > 1 else 0)
    code, p0, p1 = act_args(ctx)
    return WinogradParams(m, alpha, g.N, g.C, k_rows, g.H, g.W, g.OH, g.OW, g.pads[0], g.pads[1], nty, ntx, blocks,
                          max_tiles, chunk, v_off, m_off, q_off, total,
                          int(code), p0, p1, slots, e_off)


def winograd_slots(ctx, g) -> int:
    """Threads the stages run on."""
    return compute_threads(ctx, g.N * g.K * g.C * g.OH * g.OW)


def _scratch_views(p: WinogradParams, scratch):
    """float32 views of the scratch: (flat, row buffers [slots, alpha^2, chunk tiles], (edges, micros, zero
    bias) of the threaded GEMM or None)."""
    f = scratch.view(np.float32)
    a2, T, s = p.alpha * p.alpha, p.chunk_tiles, p.slots
    Q = f[p.q_off // 4:p.q_off // 4 + s * a2 * T].reshape(s, a2, T)
    if s == 1:
        return f, Q, None
    e0 = p.e_off // 4
    m0 = e0 + s * p.C * KCG.NR
    z0 = m0 + s * KCG.MR * KCG.NR
    zero_bias = f[z0:z0 + p.K]
    zero_bias[:] = 0.0
    return f, Q, (f[e0:m0].reshape(s, p.C * KCG.NR), f[m0:z0].reshape(s, KCG.MR * KCG.NR), zero_bias)


def input_stage(p: WinogradParams, x4, V, Q, block, threaded: bool) -> None:
    """V[alpha^2, C, tiles] = the input transform of one block of tiles (threaded over channel ranges)."""
    b0, nb, ty0, nty, tx0, ntx = block
    if threaded:
        KW.INPUT_TRANSFORMS_THREADS[p.m](x4, V, Q, b0, nb, ty0, nty, tx0, ntx, p.pt, p.pl, WINOGRAD_CHUNK_TILES)
    else:
        KW.INPUT_TRANSFORMS[p.m](x4, V, Q[0], b0, nb, ty0, nty, tx0, ntx, p.pt, p.pl, WINOGRAD_CHUNK_TILES, 0, p.C)


def product_output_stage(p: WinogradParams, U, V, M, y4, bias, Q, block, gemm_scratch) -> None:
    """M[a] = U[a] @ V[a] for the block's tiles, then the output transform + bias + activation into y4 (its
    channels are U's rows): one BLAS batched GEMM and serial transforms, or, with gemm_scratch, the own
    micro-kernel and channel ranges over the threads."""
    b0, nb, ty0, nty, tx0, ntx = block
    if gemm_scratch is None:
        np.matmul(U, V, out=M)
        KW.OUTPUT_TRANSFORMS[p.m](M, y4, Q[0], bias, b0, nb, ty0, nty, tx0, ntx, p.code, p.p0, p.p1,
                                  WINOGRAD_CHUNK_TILES, 0, U.shape[1])
    else:
        KCG.batched_gemm(U, V, M, gemm_scratch[2], gemm_scratch[0], gemm_scratch[1])
        KW.OUTPUT_TRANSFORMS_THREADS[p.m](M, y4, Q, bias, b0, nb, ty0, nty, tx0, ntx, p.code, p.p0, p.p1,
                                          WINOGRAD_CHUNK_TILES)


def run_winograd(U, bias, p: WinogradParams, x4, y4, scratch):
    """The three stages over every block. x4 [N, C, H, W], y4 [N, K, OH, OW] float32 C-contiguous."""
    if scratch is None or scratch.nbytes < p.scratch_bytes or x4.shape != (p.N, p.C, p.H, p.W) \
            or y4.shape != (p.N, p.K, p.OH, p.OW) or U.shape != (p.alpha * p.alpha, p.K, p.C):
        raise ValueError(f"winograd run: shapes x {x4.shape} y {y4.shape} U {U.shape} or scratch do not match "
                         f"the plan ({p.N},{p.C},{p.H},{p.W}) -> K={p.K}, {p.scratch_bytes} B")
    f, Q, gemm_scratch = _scratch_views(p, scratch)
    a2 = p.alpha * p.alpha
    v0, m0 = p.v_off // 4, p.m_off // 4
    for block in p.blocks:
        tiles = block[1] * block[3] * block[5]
        V = f[v0:v0 + a2 * p.C * tiles].reshape(a2, p.C, tiles)
        M = f[m0:m0 + a2 * p.K * tiles].reshape(a2, p.K, tiles)
        input_stage(p, x4, V, Q, block, gemm_scratch is not None)
        product_output_stage(p, U, V, M, y4, bias, Q, block, gemm_scratch)


def pack_weights(w, m: int):
    """U [alpha^2, K, C] float32 from a [K, C, 3, 3] weight."""
    _, G, _ = KW.transform_matrices(m)
    return np.ascontiguousarray(KW.transform_weights(w, G), dtype=np.float32)


def _check_params(p: WinogradParams) -> None:
    """Every block's indices fit the tensors and the scratch (kernels do not check bounds)."""
    a2 = p.alpha * p.alpha
    for blk in p.blocks:
        b0, nb, ty0, nty, tx0, ntx = blk
        ok = (0 <= b0 and nb >= 1 and b0 + nb <= p.N and 0 <= ty0 and nty >= 1 and ty0 + nty <= p.nty
              and 0 <= tx0 and ntx >= 1 and tx0 + ntx <= p.ntx and (nb == 1 or (nty == p.nty and ntx == p.ntx))
              and nb * nty * ntx <= p.max_tiles
              and min(nb * nty, max(1, WINOGRAD_CHUNK_TILES // ntx)) * ntx <= p.chunk_tiles)
        if not ok:
            raise ValueError(f"winograd block {blk} outside the {p.N}x{p.nty}x{p.ntx} tile grid")
    T, Tc = p.max_tiles, p.chunk_tiles
    ends = (p.m_off - p.v_off >= 4 * a2 * p.C * T and p.q_off - p.m_off >= 4 * a2 * p.K * T
            and p.e_off - p.q_off >= 4 * p.slots * a2 * Tc
            and (p.slots == 1 or p.scratch_bytes - p.e_off >= 4 * (p.slots * (p.C * KCG.NR + KCG.MR * KCG.NR) + p.K)))
    if not ends:
        raise ValueError("winograd scratch layout overlaps")


def cost_features(ctx, m: int) -> dict:
    """The quantities the cost model charges for (see WINOGRAD_COST)."""
    g = conv_geometry(ctx)
    p = make_params(ctx, m)
    a2 = p.alpha * p.alpha
    gemm_us = sum(a2 * gemm_cost_us(g.K, g.C, nb * nty * ntx, ctx.blas_threads) for (_, nb, _, nty, _, ntx) in p.blocks)
    return {"gemm_us": gemm_us, "tile_channels": g.N * p.nty * p.ntx * (g.C + g.K),
            "row_channels": g.N * p.nty * (g.C + g.K)}


def winograd_fit_us(ctx, m: int, k: dict | None = None) -> float:
    """Absolute model of Winograd F(m,3)'s measured time (WINOGRAD_COST)."""
    k = k or WINOGRAD_COST
    f = cost_features(ctx, m)
    return f["gemm_us"] * k["gemm_factor"] + (f["tile_channels"] * k["ns_tile"][m]
                                              + f["row_channels"] * k["ns_row"]) / 1e3


def im2col_fit_us(ctx, k: dict | None = None) -> float:
    """Absolute model of the im2col algorithm's measured time on a 3x3 stride-1 conv (IM2COL_FIT)."""
    k = k or IM2COL_FIT
    g = conv_geometry(ctx)
    P = g.N * g.OH * g.OW
    mflop = 2.0 * g.K * g.C * 9 * P / 1e6 / max(1, min(ctx.blas_threads, 2)) ** 0.9
    return (k["us_per_gemm_mflop"] * mflop + (k["ns_per_column_element"] * 9 * g.C * P
                                              + k["ns_per_output"] * g.K * P) / 1e3 + k["fixed_us"])


def cost_us(ctx, m: int) -> float:
    """Estimated microseconds, comparable with the im2col algorithm's estimate: that estimate times
    (Winograd model / im2col model), both models fitted to measurements (see WINOGRAD_COST). MNN compares
    direct 2*OH*OW*C*K*9 with (transforms per tile and channel + alpha^2 GEMMs) per tile; same idea."""
    im2col = registry_algorithms("Conv").get("im2col")
    base = im2col.cost(ctx) if im2col is not None and im2col.applies(ctx) else im2col_fit_us(ctx)
    slots = winograd_slots(ctx, conv_geometry(ctx))
    return base * winograd_fit_us(ctx, m) / im2col_fit_us(ctx) / slots ** THREAD_EFFICIENCY


def _make_algorithm(name: str, m: int) -> Algorithm:
    def pack(ctx):
        g = conv_geometry(ctx)
        w = const_value(ctx.consts[1]).reshape(g.K, g.C, 3, 3)
        return pack_weights(w, m), pack_bias(ctx, g.K)

    def setup(ctx):
        p = make_params(ctx, m)
        _check_params(p)
        return p

    def run(packed, params, ins, outs, scratch):
        U, b = packed
        p = params
        run_winograd(U, run_bias(b, ins), p, ins[0].reshape(p.N, p.C, p.H, p.W),
                     outs[0].reshape(p.N, p.K, p.OH, p.OW), scratch)

    def weight_bytes(ctx):
        g = conv_geometry(ctx)
        return 4 * (m + 2) ** 2 * g.K * g.C + bias_bytes(ctx)

    alpha = m + 2
    return Algorithm(
        "Conv", name, run=run, cost=lambda ctx: cost_us(ctx, m), applies=_applies, pack=pack, setup=setup,
        weight_bytes=weight_bytes, scratch_bytes=lambda ctx: make_params(ctx, m).scratch_bytes,
        big_buffers=True, precisions=("low", "normal") if m == 6 else jconfig.PRECISIONS, tier=TIERS[name],
        doc=f"Winograd F({m},3): U = G g G^T ({alpha * alpha}/9 of the weights), input transform, "
            f"{alpha * alpha} batched BLAS GEMMs, output transform + bias/activation")


for _name, _m in UNITS.items():
    register_algorithm(_make_algorithm(_name, _m))
