"""Hybrid (dequant-on-the-fly) Conv: weights stay compressed (fp16/bf16/int8/int4) and one panel of
output channels (at most HYBRID_PANEL_BYTES of fp32) at a time is expanded in scratch, just before its GEMM.
No full fp32 weight copy ever exists, activations stay fp32 (weight-only quantization).

These apply exactly when the weight *is* stored compressed (a CompressedTensor): never merely because
quantization metadata exists (MNN #2741: an fp16 model in low memory asked for a zero-size buffer).
In memory="normal"/"high" the fp32 algorithms win on cost (they expand once at prepare)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn import config as jconfig
from jitmnn.compression import CompressedTensor
from jitmnn.kernels import conv as KC
from jitmnn.kernels import depthwise as KD
from jitmnn.kernels import epilogue as KE

from . import conv as C
from .registry import CONVERTS, Algorithm, register_algorithm

# Expanding a weight element (fp16 bits or int8 * scale) runs at ~1-7 Gelem/s; charge 0.5 ns.
NS_PER_DEQUANT_ELEMENT = 0.5


def _compressed(ctx) -> bool:
    return isinstance(ctx.consts[1], CompressedTensor) and ctx.in_dtypes[0] == np.float32 and C.is_plannable_2d(ctx)


def panel_rows(rows: int, row_len: int) -> int:
    """Rows expanded at a time: all of them when their fp32 form fits HYBRID_PANEL_BYTES (expanded once
    per run, never per tile), else as many as fit, rounded down to HYBRID_PANEL_ROW_MULTIPLE."""
    fit = jconfig.HYBRID_PANEL_BYTES // (4 * max(1, row_len))
    if fit >= rows:
        return rows
    m = jconfig.HYBRID_PANEL_ROW_MULTIPLE
    return max(1, fit // m * m if fit >= m else fit)


def _panel_rows(g) -> int:
    return panel_rows(g.Kg, g.Cg * g.kh * g.kw)


def _panels(g) -> int:
    return -(-g.Kg // _panel_rows(g))


def _pack(ctx):
    g = C.conv_geometry(ctx)
    return ctx.consts[1], C.pack_bias(ctx, g.K)


@dataclass(frozen=True)
class HybridGemm1x1Params:
    """Conv geometry and the fused activation."""

    geometry: C.ConvGeometry
    code: int
    p0: np.float32
    p1: np.float32


def _setup(ctx):
    return HybridGemm1x1Params(C.conv_geometry(ctx), *C.act_args(ctx))


def _dequant_cost(ctx, repeats=1) -> float:
    return repeats * ctx.consts[1].size * NS_PER_DEQUANT_ELEMENT / 1e3


# ---- 1x1 ------------------------------------------------------------------------------------------
def _applies_1x1(ctx):
    if not _compressed(ctx):
        return False
    g = C.conv_geometry(ctx)
    return g.kh == 1 and g.kw == 1 and g.strides == (1, 1) and g.pads == (0, 0, 0, 0) and g.group == 1


def _run_1x1(packed, params: HybridGemm1x1Params, ins, outs, scratch):
    w, b = packed
    g = params.geometry
    code, p0, p1 = params.code, params.p0, params.p1
    bias = C.run_bias(b, ins)
    x4, y4 = C._views4(g, ins[0], outs[0])
    rows = _panel_rows(g)
    panel_all = scratch.view(np.float32)[: rows * g.C].reshape(rows, g.C)
    for k0 in range(0, g.K, rows):
        k1 = min(g.K, k0 + rows)
        panel = panel_all[: k1 - k0]
        w.expand_rows(k0, k1, panel)
        for n in range(g.N):
            y2 = y4[n].reshape(g.K, g.P)[k0:k1]
            np.matmul(panel, x4[n].reshape(g.C, g.P), out=y2)
            KE.bias_act_rows(y2, y2, 0, bias[k0:k1], code, p0, p1)


register_algorithm(Algorithm(
    "Conv", "hybrid_gemm1x1", run=_run_1x1, applies=_applies_1x1, pack=_pack, setup=_setup,
    cost=lambda ctx: C._cost_1x1(ctx) + _dequant_cost(ctx) + 2 * C.CALL_OVERHEAD_US * _panels(C.conv_geometry(ctx)),
    scratch_bytes=lambda ctx: C._align(4 * _panel_rows(C.conv_geometry(ctx)) * C.conv_geometry(ctx).C),
    weight_bytes=C.bias_bytes, tier="F32",
    doc="1x1 conv, compressed weights expanded one row panel at a time before each GEMM"))


# ---- im2col -----------------------------------------------------------------------------------------
def _layout(ctx):
    """Scratch: [cols tile | weight panel | tile output]."""
    g = C.conv_geometry(ctx)
    t = C.im2col_tile_columns(ctx, g)
    rows = g.Cg * g.kh * g.kw
    pr = _panel_rows(g)
    cols_b = C._align(4 * rows * t)
    panel_b = C._align(4 * pr * rows)
    out_b = 0 if C.gemm_into_output(ctx, g, t) else C._align(4 * pr * t)
    return g, t, rows, pr, cols_b, panel_b, out_b


def _applies_im2col(ctx):
    if not _compressed(ctx):
        return False
    C.conv_geometry(ctx)
    return True


@dataclass(frozen=True)
class HybridIm2colParams:
    """Conv geometry, tile and panel sizes, scratch layout [cols | panel | tile output], fused activation."""

    geometry: C.ConvGeometry
    tile_columns: int
    rows: int  # Cg * kh * kw: the im2col rows, the length of a stored weight row
    panel_rows: int
    cols_bytes: int
    panel_bytes: int
    gemm_into_output: bool  # BLAS writes the output directly (no tile output in scratch)
    code: int
    p0: np.float32
    p1: np.float32


def _setup_im2col(ctx):
    g, t, rows, pr, cols_b, panel_b, out_b = _layout(ctx)
    return HybridIm2colParams(g, t, rows, pr, cols_b, panel_b, C.gemm_into_output(ctx, g, t), *C.act_args(ctx))


def _run_im2col(packed, params: HybridIm2colParams, ins, outs, scratch):
    w, b = packed
    g, t, rows, pr = params.geometry, params.tile_columns, params.rows, params.panel_rows
    cols_b, panel_b, direct = params.cols_bytes, params.panel_bytes, params.gemm_into_output
    code, p0, p1 = params.code, params.p0, params.p1
    bias = C.run_bias(b, ins)
    x4, y4 = C._views4(g, ins[0], outs[0])
    sh, sw = g.strides
    ph, pw = g.pads[0], g.pads[1]
    dh, dw = g.dilations
    P, Kg, Cg = g.P, g.Kg, g.Cg
    f = scratch.view(np.float32)
    panel_all = f[cols_b // 4: cols_b // 4 + pr * rows].reshape(pr, rows)
    tile_base = f[(cols_b + panel_b) // 4:]
    single = pr >= Kg  # the whole group's weight fits the panel: expand it once, not once per tile
    for gi in range(g.group):
        if single:
            w.expand_rows(gi * Kg, (gi + 1) * Kg, panel_all[:Kg])
        for n in range(g.N):
            x3 = x4[n, gi * Cg:(gi + 1) * Cg]
            y2 = y4[n, gi * Kg:(gi + 1) * Kg].reshape(Kg, P)
            for col0 in range(0, P, t):
                nc = min(t, P - col0)
                cols = f[: rows * nc].reshape(rows, nc)
                KC.im2col_tile(x3, cols, col0, nc, g.OW, g.kh, g.kw, sh, sw, ph, pw, dh, dw)
                for k0 in range(0, Kg, pr):
                    k1 = min(Kg, k0 + pr)
                    panel = panel_all[: k1 - k0]
                    if not single:
                        w.expand_rows(gi * Kg + k0, gi * Kg + k1, panel)
                    bk = bias[gi * Kg + k0: gi * Kg + k1]
                    if direct:
                        dst = y2[k0:k1]
                        np.matmul(panel, cols, out=dst)
                        KE.bias_act_rows(dst, dst, 0, bk, code, p0, p1)
                    else:
                        tile = tile_base[: (k1 - k0) * nc].reshape(k1 - k0, nc)
                        np.matmul(panel, cols, out=tile)
                        KE.bias_act_rows(tile, y2[k0:k1], col0, bk, code, p0, p1)


def _cost_im2col(ctx):
    g = C.conv_geometry(ctx)
    t = C.im2col_tile_columns(ctx, g)
    tiles = -(-g.P // t)
    panels = -(-g.Kg // _panel_rows(g))
    repeats = 1 if panels == 1 else g.N * tiles
    return C._cost_im2col(ctx) + _dequant_cost(ctx, repeats) + g.N * g.group * tiles * panels * 2 * C.CALL_OVERHEAD_US


register_algorithm(Algorithm(
    "Conv", "hybrid_im2col", run=_run_im2col, applies=_applies_im2col, pack=_pack, setup=_setup_im2col,
    cost=_cost_im2col, scratch_bytes=lambda ctx: sum(_layout(ctx)[4:]), weight_bytes=C.bias_bytes, fp16=CONVERTS,
    doc="im2col tile GEMM with compressed weights expanded one row panel at a time"))


# ---- depthwise --------------------------------------------------------------------------------------
def _applies_dw(ctx):
    if not _compressed(ctx):
        return False
    g = C.conv_geometry(ctx)
    return g.group == g.C == g.K and g.C > 1


def _dw_layout(ctx):
    g = C.conv_geometry(ctx)
    hp, wp = C._pad_plane_shape(g)
    return g, hp, wp, C._align(4 * g.C * g.kh * g.kw), C._align(4 * hp * wp)


@dataclass(frozen=True)
class HybridDepthwiseParams:
    """Conv geometry, padded plane shape, scratch bytes of the expanded filter (the plane follows), activation."""

    geometry: C.ConvGeometry
    plane_h: int
    plane_w: int
    filter_bytes: int
    code: int
    p0: np.float32
    p1: np.float32


def _setup_dw(ctx):
    g, hp, wp, wb, _ = _dw_layout(ctx)
    return HybridDepthwiseParams(g, hp, wp, wb, *C.act_args(ctx))


def _run_dw(packed, params: HybridDepthwiseParams, ins, outs, scratch):
    w, b = packed
    g, hp, wp, wb = params.geometry, params.plane_h, params.plane_w, params.filter_bytes
    bias = C.run_bias(b, ins)
    x4, y4 = C._views4(g, ins[0], outs[0])
    f = scratch.view(np.float32)
    wf = f[: g.C * g.kh * g.kw].reshape(g.C, g.kh * g.kw)
    w.expand_rows(0, g.C, wf)
    plane = f[wb // 4: wb // 4 + hp * wp].reshape(hp, wp)
    KD.depthwise(x4, wf.reshape(g.C, g.kh, g.kw), bias, y4, plane, g.pads[0], g.pads[1], g.strides[0],
                 g.strides[1], g.dilations[0], g.dilations[1], params.code, params.p0, params.p1)


register_algorithm(Algorithm(
    "Conv", "hybrid_depthwise", run=_run_dw, applies=_applies_dw, pack=_pack,
    setup=_setup_dw,
    cost=lambda ctx: C._cost_dw(ctx) + _dequant_cost(ctx),
    scratch_bytes=lambda ctx: sum(_dw_layout(ctx)[3:]), weight_bytes=C.bias_bytes, fp16=CONVERTS,
    doc="depthwise with the (small) compressed filter expanded into scratch each run"))
