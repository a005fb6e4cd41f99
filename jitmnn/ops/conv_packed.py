"""Conv "packed": im2col tiles (or, for a pointwise conv, the input itself) multiplied by jitmnn's own GEMM
(kernels/gemm.py) instead of BLAS. The weights are packed once into the micro-kernel's 8-row panels; the
columns are read 32 at a time in place (only a partial last panel is packed). First slice of the compute-core
issue: at 1 thread it runs at OpenBLAS's speed; with num_threads=2 its GEMM splits C's row panels across
Numba threads. Not chosen by default yet (see COST_FACTOR); `overrides={"Conv": "packed"}` runs it.
(benchmarks/gemm.py measures both.)"""

from __future__ import annotations

import numpy as np

import jitmnn.ops.conv  # noqa: F401  (registers the Conv op before its algorithms)
from jitmnn import config as jconfig
from jitmnn.kernels import conv as KC
from jitmnn.kernels import epilogue as KE
from jitmnn.kernels import gemm as KG

from .conv import (_align, _cost_im2col, _views4, _weight_f32, act_args, bias_bytes, conv_geometry, gemm_into_output,
                   im2col_tile_columns, pack_bias, run_bias, weight_is_const_f32)
from .registry import Algorithm, register_algorithm

# Costed above im2col at every thread count, so no default plan changes: at 1 thread the own GEMM runs at
# about BLAS's speed; at 2 threads, plans mixing its Numba parallel regions with OpenBLAS's threads (Winograd,
# Gemm) stalled (bench.py, fresh processes: ResNet-18 33 -> 64 ms), the spin-wait clash of NUMBA_PROBE.md.
COST_FACTOR = 1.05


def _applies(ctx):
    if not weight_is_const_f32(ctx) or ctx.out_is_fp16() or ctx.in_is_fp16():
        return False
    conv_geometry(ctx)
    return True


def _pack(ctx):
    g = conv_geometry(ctx)
    w = _weight_f32(ctx).reshape(g.group, g.Kg, g.Cg * g.kh * g.kw)
    return [KG.pack_a(w[gi]) for gi in range(g.group)], pack_bias(ctx, g.K)


def _layout(ctx):
    """(tile columns, im2col bytes, edge-panel bytes, micro-tile bytes, tile-output bytes)."""
    g = conv_geometry(ctx)
    t = im2col_tile_columns(ctx, g)
    rows = g.Cg * g.kh * g.kw
    out_b = 0 if gemm_into_output(ctx, g, t) else _align(4 * g.Kg * t)
    return t, _align(4 * rows * t), _align(4 * KG.edge_size(rows)), _align(4 * KG.tiles_size(g.Kg)), out_b


def _setup(ctx):
    g = conv_geometry(ctx)
    t = im2col_tile_columns(ctx, g)
    threaded = ctx.threads > 1 and g.Kg * g.Cg * g.kh * g.kw * t >= ctx.threads * jconfig.GEMM_MIN_MACS_PER_THREAD
    return (g,) + _layout(ctx) + (gemm_into_output(ctx, g, t), threaded) + act_args(ctx)


def _run(packed, params, ins, outs, scratch):
    panels, b = packed
    g, t, cols_b, bp_b, tile_b, _, direct, threaded, code, p0, p1 = params
    gemm = KG.gemm_threads if threaded else KG.gemm
    bias = run_bias(b, ins)
    x4, y4 = _views4(g, ins[0], outs[0])
    rows = g.Cg * g.kh * g.kw
    sh, sw = g.strides
    ph, pw = g.pads[0], g.pads[1]
    dh, dw = g.dilations
    P, Kg, Cg = g.P, g.Kg, g.Cg
    fbuf = scratch.view(np.float32)
    bp = fbuf[cols_b // 4:(cols_b + bp_b) // 4]
    micro = fbuf[(cols_b + bp_b) // 4:(cols_b + bp_b + tile_b) // 4]
    tile_out_base = fbuf[(cols_b + bp_b + tile_b) // 4:]
    for n in range(g.N):
        for gi in range(g.group):
            x3 = x4[n, gi * Cg:(gi + 1) * Cg]
            y2 = y4[n, gi * Kg:(gi + 1) * Kg].reshape(Kg, P)
            bg = bias[gi * Kg:(gi + 1) * Kg]
            if g.pointwise:  # a 1x1 stride-1 conv's columns are the input itself: no im2col copy
                gemm(panels[gi], Kg, rows, x3.reshape(Cg, P), y2, bp, micro)
                KE.bias_act_rows(y2, y2, 0, bg, code, p0, p1)
                continue
            for col0 in range(0, P, t):
                nc = min(t, P - col0)
                cols = fbuf[:rows * nc].reshape(rows, nc)
                KC.im2col_tile(x3, cols, col0, nc, g.OW, g.kh, g.kw, sh, sw, ph, pw, dh, dw)
                dst = y2 if direct else tile_out_base[:Kg * nc].reshape(Kg, nc)
                gemm(panels[gi], Kg, rows, cols, dst, bp, micro)
                KE.bias_act_rows(dst, y2, 0 if direct else col0, bg, code, p0, p1)


def _scratch(ctx):
    return sum(_layout(ctx)[1:])


def _weight_bytes(ctx):
    g = conv_geometry(ctx)
    return 4 * g.group * KG.packed_a_size(g.Kg, g.Cg * g.kh * g.kw) + bias_bytes(ctx)


register_algorithm(Algorithm(
    "Conv", "packed", run=_run, cost=lambda ctx: _cost_im2col(ctx) * COST_FACTOR, applies=_applies, pack=_pack,
    setup=_setup, scratch_bytes=_scratch, weight_bytes=_weight_bytes,
    doc="im2col tile + jitmnn's packed 8x32 AVX-512 micro-kernel GEMM + fused bias/activation"))
