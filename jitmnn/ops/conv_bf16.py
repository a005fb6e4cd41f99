"""Conv "bf16": precision="low" computed in bf16 x bf16 -> fp32 with vdpbf16ps (kernels/gemm_bf16.py), on CPUs
that have AVX512-BF16 (jitmnn.cpu.bf16_tier). The im2col columns are gathered a few channels at a time into an
L1-sized block and rounded to bf16 as they are packed (a pointwise conv packs its input rows): 0-10% faster than
gathering the whole tile first and ~1 MB less scratch (two rows at a time was 1.2-4x slower). The epilogue adds
bias and activation and, when activations are stored fp16, rounds the output to fp16.

Weights stored bf16 (precision="low" stores conv weights bf16 on such CPUs, see module.py) are read in place: no
copy. Weights stored otherwise (fp32, fp16) are packed once into bf16 panels (half the fp32 bytes), which the
planner's lean rule for precision=low limits to small layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import jitmnn.ops.conv  # noqa: F401  (registers the Conv op before its algorithms)
from jitmnn import config as jconfig
from jitmnn import cpu
from jitmnn.compression import CompressedTensor
from jitmnn.kernels import epilogue as KE
from jitmnn.kernels import gemm_bf16 as KB

from .conv import (_align, _cost_im2col, _views4, act_args, bias_bytes, conv_geometry, const_value, gemm_into_output,
                   im2col_tile_columns, is_plannable_2d, pack_bias, run_bias)
from .registry import CONVERTS, Algorithm, register_algorithm


def _stored_bf16(ctx):
    """The weight's bf16 bits as [K, Cg*kh*kw] when it is stored bf16 with an even row: readable in place."""
    w = ctx.consts[1]
    if isinstance(w, CompressedTensor) and w.kind == "bf16":
        g = conv_geometry(ctx)
        rows = g.Cg * g.kh * g.kw
        if rows % 2 == 0:
            return np.ascontiguousarray(w.data).reshape(g.K, rows)
    return None


def _applies(ctx):
    if cpu.bf16_tier() != "avx512_bf16" or ctx.consts[1] is None or ctx.in_dtypes[0] != np.float32 \
            or not is_plannable_2d(ctx):
        return False
    g = conv_geometry(ctx)
    return g.Kg > 1 and g.Cg * g.kh * g.kw > 1  # a depthwise conv has no GEMM to speak of


def _pack(ctx):
    g = conv_geometry(ctx)
    rows = g.Cg * g.kh * g.kw
    bits = _stored_bf16(ctx)
    if bits is not None:
        weights = [KB.weights_in_place(bits[gi * g.Kg:(gi + 1) * g.Kg]) for gi in range(g.group)]
    else:
        w = np.asarray(const_value(ctx.consts[1]), np.float32).reshape(g.group, g.Kg, rows)
        weights = [KB.pack_a_bf16(w[gi]) for gi in range(g.group)]
    return weights, pack_bias(ctx, g.K)


def _readable_in_place(node, shape) -> bool:
    """A conv weight of this shape is a GEMM per group with even rows: the bf16 kernel reads it where it lies."""
    if node.op != "Conv" or len(shape) not in (3, 4):
        return False
    group = int(node.attrs.get("group", 1))
    rows = int(np.prod(shape[1:]))
    return shape[0] // group > 1 and rows > 1 and rows % 2 == 0


def bf16_weight_layers(graph) -> dict:
    """precision="low" storage plan on a CPU with bf16 compute: the convs this algorithm can read in place get
    their fp32 weights stored bf16 instead of fp16, as compress_graph's `layers`. Weights the file already holds
    as fp16 are re-stored as bf16 here, in place (same bytes; the kernel rounds to bf16 anyway, so nothing is
    lost that it would have kept), so an fp16 file computes in bf16 too. int8/int4 weights stay quantized."""
    if cpu.bf16_tier() != "avx512_bf16":
        return {}
    from jitmnn.compression import compress

    layers = {}
    for node in graph.nodes:
        name = node.inputs[1] if node.op == "Conv" and len(node.inputs) > 1 else None
        w = graph.constants.get(name) if name else None
        if isinstance(w, np.ndarray) and w.dtype == np.float32 and _readable_in_place(node, w.shape):
            layers[node.name] = {"kind": "bf16"}
        elif isinstance(w, CompressedTensor) and w.kind == "fp16" and _readable_in_place(node, w.shape) \
                and sum(1 for n in graph.nodes if name in n.inputs) == 1:
            graph.constants[name] = compress(w.to_float(), "bf16")
    return layers


def _threaded(ctx, g, t) -> bool:
    return jconfig.BF16_CONV_THREADS and ctx.threads > 1 and g.Kg * g.Cg * g.kh * g.kw * t >= ctx.threads * jconfig.GEMM_MIN_MACS_PER_THREAD


def _layout(ctx):
    """Byte sizes of the scratch regions: (fp32 columns: a few channels' worth, or the whole tile when threads
    gather their own columns; packed bf16 columns; micro-tiles; fp32 tile output)."""
    g = conv_geometry(ctx)
    t = im2col_tile_columns(ctx, g)
    rows = g.Cg * g.kh * g.kw
    taps = g.kh * g.kw
    block_rows = rows if _threaded(ctx, g, t) else min(g.Cg, KB.im2col_block_channels(taps)) * taps
    cols_b = 0 if g.pointwise else _align(4 * block_rows * t)
    bpack_b = _align(4 * KB.packed_b_size(rows, t))
    tiles_b = _align(4 * KB.tiles_size(ctx.threads if _threaded(ctx, g, t) else 1))
    out_b = 0 if gemm_into_output(ctx, g, t) else _align(4 * g.Kg * t)
    return cols_b, bpack_b, tiles_b, out_b


@dataclass(frozen=True)
class Bf16ConvParams:
    """One plan's settings for a bf16 conv (shape-dependent, made by setup)."""

    geometry: object  # ConvGeometry
    tile_columns: int
    layout: tuple  # scratch bytes: (fp32 columns, packed bf16 columns, micro-tiles, fp32 tile output)
    direct: bool  # the GEMM writes straight into the (fp32) output
    threads: int
    act: tuple  # (code, p0, p1) of the fused activation


def _setup(ctx):
    g = conv_geometry(ctx)
    t = im2col_tile_columns(ctx, g)
    threads = ctx.threads if _threaded(ctx, g, t) else 1
    return Bf16ConvParams(g, t, _layout(ctx), gemm_into_output(ctx, g, t), threads, act_args(ctx))


def _run(packed, params, ins, outs, scratch):
    weights, b = packed
    g, t, direct, threads = params.geometry, params.tile_columns, params.direct, params.threads
    cols_b, bpack_b, tiles_b, _ = params.layout
    code, p0, p1 = params.act
    bias = run_bias(b, ins)
    x4, y4 = _views4(g, ins[0], outs[0])
    P, Kg, Cg = g.P, g.Kg, g.Cg
    cols_all = scratch[:cols_b].view(np.float32)
    bpack = scratch[cols_b:cols_b + bpack_b].view(np.uint32)
    tiles = scratch[cols_b + bpack_b:cols_b + bpack_b + tiles_b].view(np.float32)
    tile_out = scratch[cols_b + bpack_b + tiles_b:].view(np.float32)
    for n in range(g.N):
        for gi in range(g.group):
            x3 = x4[n, gi * Cg:(gi + 1) * Cg]
            y2 = y4[n, gi * Kg:(gi + 1) * Kg].reshape(Kg, P)
            bg = bias[gi * Kg:(gi + 1) * Kg]
            for col0 in range(0, P, t):
                nc = min(t, P - col0)
                dst = y2 if direct else tile_out[:Kg * nc].reshape(Kg, nc)
                if threads > 1:  # gather, pack and GEMM split by columns: one parallel region per tile
                    KB.conv_tile_bf16_threads(weights[gi], x3, g.pointwise, col0, nc, g.OW, g.kh, g.kw, g.strides,
                                              g.pads, g.dilations, cols_all, bpack, dst, tiles, threads)
                else:
                    if g.pointwise:  # the input rows are the columns: rounded to bf16 as they are packed
                        KB.pack_b(x3.reshape(Cg, P), col0, nc, bpack)
                    else:  # gathered a few channels at a time into L1-sized blocks, rounded and packed from there
                        KB.pack_b_im2col(x3, g.kh, g.kw, g.strides, g.pads, g.dilations, g.OW, col0, nc, bpack,
                                         cols_all)
                    KB.gemm_packed_b(weights[gi], bpack, nc, dst, tiles)
                KE.bias_act_rows(dst, y2, 0 if direct else col0, bg, code, p0, p1)


def _cost(ctx):
    return _cost_im2col(ctx) * jconfig.BF16_CONV_COST_FACTOR


def _scratch(ctx):
    return sum(_layout(ctx))


def _weight_bytes(ctx):
    if _stored_bf16(ctx) is not None:
        return bias_bytes(ctx)
    g = conv_geometry(ctx)
    return 4 * g.group * KB.packed_a_size(g.Kg, g.Cg * g.kh * g.kw) + bias_bytes(ctx)


register_algorithm(Algorithm(
    "Conv", "bf16", run=_run, cost=_cost, applies=_applies, pack=_pack, setup=_setup, scratch_bytes=_scratch,
    weight_bytes=_weight_bytes, precisions=("low",), tier="BF16", fp16=CONVERTS,
    doc="bf16 x bf16 -> fp32 GEMM (AVX512-BF16 vdpbf16ps) over im2col tiles, bf16 weights read in place"))
