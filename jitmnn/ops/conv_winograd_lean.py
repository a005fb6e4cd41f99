"""Winograd F(2,3)/F(4,3) without a transformed weight copy, for memory="low": the issue's "any algorithm that
keeps no persistent weight copy and bounded scratch". Per run and per block of output channels, the block's
weights (fp32 rows read in place, or a compressed weight's rows expanded into scratch) are transformed into a
bounded U block (kernels/winograd.transform_weight_rows: ~6-12 ns per (output, input) channel pair here). Per
bounded tile block: the input transform once, then per channel block the weight transform, the alpha^2 products
and the output transform with bias and activation. Deep layers (many channel blocks) have small maps (one tile
block), shallow ones few channels (one channel block), so little is transformed twice.

Costed as the Winograd model plus the weight transforms and the repeated input transforms; the planner only
takes it where that beats the direct algorithms (ResNet-18's 56x56 and 28x28 layers, measured in the commit)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from jitmnn import config as jconfig
from jitmnn.compression import CompressedTensor
from jitmnn.kernels import conv_gemm as KCG
from jitmnn.kernels import winograd as KW

from . import conv_winograd as CW
from .conv import CALL_OVERHEAD_US, _weight_copy_bytes, bias_bytes, conv_geometry, pack_bias, run_bias
from .registry import Algorithm, register_algorithm

# Scratch bounds: the transformed weights of one channel block, and V + M of one tile block.
LEAN_U_BYTES = 1 << 20
LEAN_BLOCK_BYTES = 2 << 20
# Measured transform time per (output, input) channel pair (1 thread): F(2,3) ~6, F(4,3) ~10-12 ns.
NS_PER_WEIGHT_PAIR = {2: 7.0, 4: 12.0}
UNITS = {"winograd_f23_lean": 2, "winograd_f43_lean": 4}


@dataclass(frozen=True)
class LeanParams:
    """The tile-block layout (a WinogradParams for a block of block_k output channels) plus this algorithm's
    own scratch: U block at u_off, the expanded weight panel at panel_off (compressed weights only), the
    filter transposes at gt_off."""

    tiles: CW.WinogradParams
    block_k: int
    u_off: int
    panel_off: int
    gt_off: int
    total_bytes: int
    G: np.ndarray  # [alpha * 3] float32


def _applies(ctx) -> bool:
    w = ctx.consts[1]
    if not (CW.weight_is_const_f32(ctx) or isinstance(w, CompressedTensor)) or ctx.in_dtypes[0] != np.float32:
        return False
    if ctx.out_is_fp16() or ctx.in_is_fp16():
        return False
    g = conv_geometry(ctx)
    return (g.rank == 2 and g.kh == 3 and g.kw == 3 and g.strides == (1, 1) and g.dilations == (1, 1)
            and g.group == 1)


def _block_k(g, alpha) -> int:
    kb = max(1, LEAN_U_BYTES // (4 * alpha * alpha * g.C))
    return g.K if kb >= g.K else max(KCG.MR, kb // KCG.MR * KCG.MR)


@functools.lru_cache(maxsize=None)
def _g_rows(m: int) -> np.ndarray:
    """G of F(m, 3) as flat float32 [alpha * 3], read-only (transform_matrices solves for it in ~1 ms)."""
    _, G, _ = KW.transform_matrices(m)
    g = np.ascontiguousarray(G, np.float32).reshape(-1)
    g.flags.writeable = False
    return g


def make_params(ctx, m: int) -> LeanParams:
    g = conv_geometry(ctx)
    alpha = m + 2
    kb = min(g.K, _block_k(g, alpha))
    tiles = CW.tile_layout(ctx, m, kb, LEAN_BLOCK_BYTES)
    CW._check_params(tiles)
    a = CW._align
    u_off = tiles.scratch_bytes
    panel_off = u_off + a(4 * alpha * alpha * kb * g.C)
    compressed = isinstance(ctx.consts[1], CompressedTensor)
    gt_off = panel_off + (a(4 * kb * g.C * 9) if compressed else 0)
    total = gt_off + a(4 * 9 * g.C) + a(4 * 3 * alpha * g.C)
    return LeanParams(tiles, kb, u_off, panel_off, gt_off, total, _g_rows(m))


def _cost(ctx, m: int) -> float:
    g = conv_geometry(ctx)
    alpha = m + 2
    nkb = -(-g.K // _block_k(g, alpha))
    wino = CW.cost_us(ctx, m)
    # the weights are transformed (and, compressed, expanded) again for every tile block
    tile_blocks = len(make_params(ctx, m).tiles.blocks)
    transforms = tile_blocks * g.K * g.C * NS_PER_WEIGHT_PAIR[m] / 1e3
    dequant = tile_blocks * g.K * g.C * 9 * 0.5 / 1e3 if isinstance(ctx.consts[1], CompressedTensor) else 0.0
    # narrower products per channel block: one more call per block and tile block
    calls = tile_blocks * nkb * 3 * CALL_OVERHEAD_US
    return wino + calls + (transforms + dequant) / CW.winograd_slots(ctx, g) ** CW.THREAD_EFFICIENCY


def _weight_bytes(ctx) -> int:
    """The bias copy, and a fp32 copy only if the stored fp32 weight is not contiguous already."""
    return bias_bytes(ctx) + (0 if isinstance(ctx.consts[1], CompressedTensor) else _weight_copy_bytes(ctx))


def _make(name: str, m: int) -> Algorithm:
    def pack(ctx):
        g = conv_geometry(ctx)
        w = ctx.consts[1]
        if not isinstance(w, CompressedTensor):
            w = CW.const_value(w)
            w = np.ascontiguousarray(w, np.float32).reshape(g.K, g.C * 9)
        return w, pack_bias(ctx, g.K)

    def run(packed, params: LeanParams, ins, outs, scratch):
        w, b = packed
        p = params.tiles
        kb_max = params.block_k
        bias = run_bias(b, ins)
        x4 = ins[0].reshape(p.N, p.C, p.H, p.W)
        K = outs[0].shape[1]
        y4 = outs[0].reshape(p.N, K, p.OH, p.OW)
        f, Q, gemm_scratch = CW._scratch_views(p, scratch)
        a2 = p.alpha * p.alpha
        u_all = f[params.u_off // 4:params.u_off // 4 + a2 * kb_max * p.C]
        gt = f[params.gt_off // 4:params.gt_off // 4 + 9 * p.C]
        tbuf = f[params.gt_off // 4 + CW._align(4 * 9 * p.C) // 4:][:3 * p.alpha * p.C]
        compressed = isinstance(w, CompressedTensor)
        v0, m0 = p.v_off // 4, p.m_off // 4
        for block in p.blocks:
            tiles = block[1] * block[3] * block[5]
            V = f[v0:v0 + a2 * p.C * tiles].reshape(a2, p.C, tiles)
            CW.input_stage(p, x4, V, Q, block, gemm_scratch is not None)
            for k0 in range(0, K, kb_max):  # the weight transform repeats per tile block, the input transform not
                k1 = min(K, k0 + kb_max)
                nk = k1 - k0
                if compressed:
                    panel = f[params.panel_off // 4:params.panel_off // 4 + nk * p.C * 9].reshape(nk, p.C * 9)
                    w.expand_rows(k0, k1, panel)
                else:
                    panel = w[k0:k1]
                KW.transform_weight_rows(panel.reshape(-1), nk, p.C, params.G, p.alpha, u_all, gt, tbuf)
                U = u_all[:a2 * nk * p.C].reshape(a2, nk, p.C)
                M = f[m0:m0 + a2 * nk * tiles].reshape(a2, nk, tiles)
                CW.product_output_stage(p, U, V, M, y4[:, k0:k1], bias[k0:k1], Q, block, gemm_scratch)

    def scratch_bytes(ctx):
        return make_params(ctx, m).total_bytes

    return Algorithm(
        "Conv", name, run=run, cost=lambda ctx: _cost(ctx, m), applies=_applies, pack=pack,
        setup=lambda ctx: make_params(ctx, m), scratch_bytes=scratch_bytes, weight_bytes=_weight_bytes,
        precisions=jconfig.PRECISIONS, tier=CW.TIERS[name.replace("_lean", "")],
        doc=f"Winograd F({m},3) with the weight transform done per run, one bounded block of output channels "
            "at a time: no transformed weight copy, bounded scratch (memory=low may use it)")


for _name, _m in UNITS.items():
    register_algorithm(_make(_name, _m))
