"""Conv "hybrid_own_gemm": compressed weights (fp16/bf16/int8/int4, a CompressedTensor) expanded one bounded
row panel at a time into scratch, each panel multiplied on jitmnn's own micro-kernel (kernels/conv_gemm.py:
output tiles over the threads, bias and activation fused into the store). No fp32 copy of the layer exists
beyond the panel (HYBRID_PANEL_BYTES), so memory="low" takes it; a layer whose fp32 weight fits one panel is
expanded once per run and each im2col tile is built once.

The weight-panel provider is the CompressedTensor's expand_rows: dense and compressed weights then run the
same tile driver (conv_tiles), the idea of tract's b_storage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import conv_gemm as KCG

from . import conv as C
from . import conv_hybrid as H
from . import conv_own_gemm as OG
from .registry import Algorithm, register_algorithm


@dataclass(frozen=True)
class HybridOwnParams:
    """The own-GEMM tiling plus the weight panel: panel_rows output channels expanded at a time, in the first
    panel_bytes of the scratch (the tile driver's per-thread scratch follows)."""

    tiles: OG.OwnGemmParams
    panel_rows: int
    panel_bytes: int


def _applies(ctx):
    return H._compressed(ctx) and not ctx.out_is_fp16() and not ctx.in_is_fp16()


def _panel_rows(ctx) -> int:
    g = C.conv_geometry(ctx)
    pr = H.panel_rows(g.Kg, g.Cg * g.kh * g.kw)
    if pr < g.Kg and pr > KCG.MR:  # whole micro-kernel panels, so only the layer's last row block is ragged
        pr -= pr % KCG.MR
    return pr


def _setup(ctx) -> HybridOwnParams:
    g = C.conv_geometry(ctx)
    pr = _panel_rows(ctx)
    tiles = OG._setup(ctx)
    tiles = OG.OwnGemmParams(tiles.geometry, tiles.tile_columns, min(tiles.block_rows, pr), tiles.scratch, tiles.act)
    return HybridOwnParams(tiles, pr, C._align(4 * pr * g.Cg * g.kh * g.kw))


def _run(packed, params: HybridOwnParams, ins, outs, scratch):
    w, b = packed
    p = params.tiles
    g = p.geometry
    bias = C.run_bias(b, ins)
    x4, y4 = C._views4(g, ins[0], outs[0])
    rows = g.Cg * g.kh * g.kw
    panel_all = scratch.view(np.float32)[:params.panel_rows * rows].reshape(params.panel_rows, rows)
    cols, edges, micros = p.scratch.views(scratch[params.panel_bytes:])
    Kg, Cg = g.Kg, g.Cg
    single = params.panel_rows >= Kg
    for gi in range(g.group):
        for k0 in range(0, Kg, params.panel_rows):
            k1 = min(Kg, k0 + params.panel_rows)
            panel = panel_all[:k1 - k0]
            if not single or k0 == 0:
                w.expand_rows(gi * Kg + k0, gi * Kg + k1, panel)
            mb = min(p.block_rows, k1 - k0)
            for n in range(g.N):
                y2 = y4[n, gi * Kg:(gi + 1) * Kg].reshape(Kg, g.P)[k0:k1]
                KCG.conv_tiles(x4[n, gi * Cg:(gi + 1) * Cg], panel, bias[gi * Kg + k0:gi * Kg + k1], y2, cols, edges,
                               micros, p.conv_geometry, p.tile_columns, mb, p.act.code, p.act.p0, p.act.p1)


def _cost(ctx):
    g = C.conv_geometry(ctx)
    panels = -(-g.Kg // _panel_rows(ctx))
    # each extra panel re-builds the im2col tiles of the layer
    again = (panels - 1) * (0 if g.pointwise else C.copy_cost_us(g.N * g.group * g.Cg * g.kh * g.kw * g.P))
    return OG._cost(ctx) + H._dequant_cost(ctx) + again + g.group * panels * C.CALL_OVERHEAD_US


def _scratch(ctx):
    g = C.conv_geometry(ctx)
    return C._align(4 * _panel_rows(ctx) * g.Cg * g.kh * g.kw) + OG._layout(ctx)[2].total_bytes


register_algorithm(Algorithm(
    "Conv", "hybrid_own_gemm", run=_run, applies=_applies, pack=H._pack, setup=_setup, cost=_cost,
    scratch_bytes=_scratch, weight_bytes=C.bias_bytes,
    doc="compressed weights expanded one bounded row panel at a time, each panel on the own micro-kernel's "
        "output tiles (im2col per tile, bias/activation fused, threads over tiles)"))
