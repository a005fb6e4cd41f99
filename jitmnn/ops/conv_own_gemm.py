"""Conv "own_gemm": output tiles on jitmnn's own 8x32 AVX-512 micro-kernel (kernels/conv_gemm.py) instead of
BLAS. Each tile (output pixels x output channels) is computed by one thread from im2col of its pixels (a
pointwise conv reads the input in place) to the stored, biased and activated output: one parallel region per
conv, a static partition, per-thread scratch, no BLAS. The weights are read in place (no packed copy), so
memory="low" may use it; its scratch is one im2col tile per thread.

Measured per layer against im2col + OpenBLAS (BLAS variables unset, same process, ResNet and PP-OCR shapes):
0.70-1.16x BLAS's time at 1 thread, 1.7-1.9x its own 1-thread speed at 2 threads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import jitmnn.ops.conv  # noqa: F401  (registers the Conv op before its algorithms)
from jitmnn.kernels import conv_gemm as KCG

from .conv import (CALL_OVERHEAD_US, Activation, ConvGeometry, _align, compute_threads, _views4, _weight_copy_bytes, _weight_f32,
                   bias_bytes, conv_geometry, copy_cost_us, gemm_cost_us, im2col_tile_columns, pack_bias, run_bias,
                   weight_is_const_f32)
from .registry import Algorithm, register_algorithm

# Below this many output columns per thread the threads split the output channels instead (a 7x7 map has 49
# columns: two column tiles of 32 and 17 would leave one thread idle a third of the time).
MIN_COLUMNS_PER_THREAD = 64
# Parallel speed-up charged per extra thread: measured 1.7-1.9x at 2 threads on conv-sized tiles.
THREAD_EFFICIENCY = 0.9


@dataclass(frozen=True)
class ScratchLayout:
    """Byte offsets of the three per-thread scratch arrays in the step's scratch, each [slots, floats]."""

    slots: int
    cols_floats: int
    edge_floats: int
    micro_floats: int

    @property
    def cols_bytes(self) -> int:
        return _align(4 * self.slots * self.cols_floats)

    @property
    def edge_bytes(self) -> int:
        return _align(4 * self.slots * self.edge_floats)

    @property
    def total_bytes(self) -> int:
        return self.cols_bytes + self.edge_bytes + _align(4 * self.slots * self.micro_floats)

    def views(self, scratch: np.ndarray):
        f = scratch.view(np.float32)
        a, b = self.cols_bytes // 4, (self.cols_bytes + self.edge_bytes) // 4
        cols = f[:self.slots * self.cols_floats].reshape(self.slots, self.cols_floats)
        edges = f[a:a + self.slots * self.edge_floats].reshape(self.slots, self.edge_floats)
        micros = f[b:b + self.slots * self.micro_floats].reshape(self.slots, self.micro_floats)
        return cols, edges, micros


@dataclass(frozen=True)
class OwnGemmParams:
    geometry: ConvGeometry
    tile_columns: int
    block_rows: int
    scratch: ScratchLayout
    act: Activation

    @property
    def conv_geometry(self) -> tuple:
        g = self.geometry
        return (g.OW, g.kh, g.kw, g.strides[0], g.strides[1], g.pads[0], g.pads[1], g.dilations[0], g.dilations[1])


def _applies(ctx):
    if not weight_is_const_f32(ctx) or ctx.out_is_fp16() or ctx.in_is_fp16():
        return False
    conv_geometry(ctx)
    return True


def _slots(ctx, g: ConvGeometry) -> int:
    """Threads the conv's tiles are dealt to."""
    return compute_threads(ctx, g.Kg * g.Cg * g.kh * g.kw * g.P)


def tiling(ctx, g: ConvGeometry, slots: int) -> tuple[int, int]:
    """(columns, rows) per tile: the memory mode's im2col tile, cut so every thread gets the same number of
    tiles; with too few columns to share, one column tile and the output channels split among the threads."""
    nr, mr = KCG.NR, KCG.MR
    P, K = g.P, g.Kg
    if slots > 1 and P < MIN_COLUMNS_PER_THREAD * slots:
        return P, min(K, -(-(-(-K // slots)) // mr) * mr)
    t0 = im2col_tile_columns(ctx, g)
    ntiles = -(-P // max(t0, nr))
    ntiles = -(-ntiles // slots) * slots
    t = -(-(-(-P // ntiles)) // nr) * nr
    return (P if t >= P else t), K


def _layout(ctx) -> tuple[int, int, ScratchLayout]:
    g = conv_geometry(ctx)
    slots = _slots(ctx, g)
    t, mb = tiling(ctx, g, slots)
    cols, edge, micro = KCG.slot_floats(g.Cg * g.kh * g.kw, t, g.pointwise)
    return t, mb, ScratchLayout(slots, cols, edge, micro)


def _pack(ctx):
    g = conv_geometry(ctx)
    return _weight_f32(ctx).reshape(g.group, g.Kg, g.Cg * g.kh * g.kw), pack_bias(ctx, g.K)


def _setup(ctx) -> OwnGemmParams:
    t, mb, layout = _layout(ctx)
    return OwnGemmParams(conv_geometry(ctx), t, mb, layout, Activation.of(ctx))


def _run(packed, params: OwnGemmParams, ins, outs, scratch):
    w, b = packed
    g = params.geometry
    bias = run_bias(b, ins)
    x4, y4 = _views4(g, ins[0], outs[0])
    cols, edges, micros = params.scratch.views(scratch)
    Kg, Cg = g.Kg, g.Cg
    for n in range(g.N):
        for gi in range(g.group):
            KCG.conv_tiles(x4[n, gi * Cg:(gi + 1) * Cg], w[gi], bias[gi * Kg:(gi + 1) * Kg],
                           y4[n, gi * Kg:(gi + 1) * Kg].reshape(Kg, g.P), cols, edges, micros, params.conv_geometry,
                           params.tile_columns, params.block_rows, params.act.code, params.act.p0, params.act.p1)


def _cost(ctx):
    g = conv_geometry(ctx)
    rows = g.Cg * g.kh * g.kw
    slots = _slots(ctx, g)
    calls = g.N * g.group
    work = calls * gemm_cost_us(g.Kg, rows, g.P, 1) + (0 if g.pointwise else copy_cost_us(calls * rows * g.P))
    return work / slots ** THREAD_EFFICIENCY + calls * CALL_OVERHEAD_US


register_algorithm(Algorithm(
    "Conv", "own_gemm", run=_run, cost=_cost, applies=_applies, pack=_pack, setup=_setup,
    scratch_bytes=lambda ctx: _layout(ctx)[2].total_bytes,
    weight_bytes=lambda ctx: _weight_copy_bytes(ctx) + bias_bytes(ctx),
    doc="output tiles on jitmnn's 8x32 AVX-512 micro-kernel: im2col per tile (none for 1x1), weights read in "
        "place, bias/activation fused into the store, tiles spread over the threads"))
