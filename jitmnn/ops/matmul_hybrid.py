"""Hybrid Gemm/MatMul for compressed constant weights: one panel of stored rows (at most
HYBRID_PANEL_BYTES of fp32) is expanded in scratch before its GEMM; no full fp32 copy exists (fc layers
are the largest weights of the classifiers: 2 MB in ResNet-18, 5 MB in MobileNetV2).

Stored rows are the weight's first axis: for Gemm transB=1 (B is [N, K]) a panel is a block of output
columns; for Gemm transB=0 and MatMul (B is [K, N]) a panel is a block of the inner dimension, and the
partial products are accumulated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.compression import CompressedTensor
from jitmnn.kernels import epilogue as KE

from . import matmul as MM
from .conv import CALL_OVERHEAD_US, _align, act_args, copy_cost_us, gemm_cost_us
from .conv_hybrid import panel_rows
from .registry import Algorithm, register_algorithm

NS_PER_DEQUANT_ELEMENT = 0.5


def _weight(ctx):
    w = ctx.consts[1] if len(ctx.consts) > 1 else None
    return w if isinstance(w, CompressedTensor) and w.ndim == 2 else None


def _dims(ctx):
    """(M rows of the activation, K inner, N outputs, panel rows, rows are outputs?)."""
    w = _weight(ctx)
    if ctx.node.op == "Gemm":
        m, k, n = MM._gemm_dims(ctx.node, ctx.in_shapes[0], ctx.in_shapes[1])
        by_output = bool(ctx.attr("transB", 0))
    else:
        k, n = w.shape
        m = int(np.prod(ctx.in_shapes[0][:-1]))
        by_output = False
    return m, k, n, panel_rows(w.shape[0], w.row_len), by_output


def _applies(ctx):
    if _weight(ctx) is None or not MM._is_f32(ctx) or ctx.consts[0] is not None:
        return False
    if ctx.node.op == "Gemm":
        c_ok = not MM._has_c(ctx) or ctx.consts[2] is not None
        return not ctx.attr("transA", 0) and c_ok
    return len(ctx.in_shapes[0]) >= 2


def _layout(ctx):
    m, k, n, pr, by_output = _dims(ctx)
    panel_b = _align(4 * pr * (k if by_output else n))
    tile_b = _align(4 * m * (pr if by_output else n))
    return m, k, n, pr, by_output, panel_b, tile_b


def _pack(ctx):
    m, k, n, *_ = _dims(ctx)
    if ctx.node.op == "Gemm":
        return (_weight(ctx),) + MM.gemm_bias(ctx, n)
    return _weight(ctx), np.zeros(n, np.float32), None


@dataclass(frozen=True)
class HybridGemmParams:
    """GEMM dims, stored rows expanded per panel (scratch: panel, then tile), alpha and the fused activation."""

    m: int
    k: int
    n: int
    panel_rows: int
    by_output: bool  # stored rows are output columns (Gemm transB=1), else inner rows (accumulated)
    panel_bytes: int  # the expanded panel's share of the scratch; the tile output follows it
    alpha: np.float32
    code: int
    p0: np.float32
    p1: np.float32


def _setup(ctx):
    m, k, n, pr, by_output, panel_b, _ = _layout(ctx)
    alpha = np.float32(ctx.attr("alpha", 1.0)) if ctx.node.op == "Gemm" else np.float32(1.0)
    return HybridGemmParams(m, k, n, pr, by_output, panel_b, alpha, *act_args(ctx))


def _run(packed, params: HybridGemmParams, ins, outs, scratch):
    w, bias, full = packed
    m, k, n, pr = params.m, params.k, params.n, params.panel_rows
    a = ins[0].reshape(m, k)
    y = outs[0].reshape(m, n)
    f = scratch.view(np.float32)
    tile_base = f[params.panel_bytes // 4:]
    if params.by_output:  # B is [N, K]: panel = output columns n0:n1
        for n0 in range(0, n, pr):
            n1 = min(n, n0 + pr)
            panel = f[: (n1 - n0) * k].reshape(n1 - n0, k)
            w.expand_rows(n0, n1, panel)
            tile = tile_base[: m * (n1 - n0)].reshape(m, n1 - n0)
            np.matmul(a, panel.T, out=tile)
            y[:, n0:n1] = tile
    else:  # B is [K, N]: panel = inner rows k0:k1, accumulated
        tile = tile_base[: m * n].reshape(m, n)
        for k0 in range(0, k, pr):
            k1 = min(k, k0 + pr)
            panel = f[: (k1 - k0) * n].reshape(k1 - k0, n)
            w.expand_rows(k0, k1, panel)
            if k0 == 0:
                np.matmul(a[:, k0:k1], panel, out=y)
            else:
                np.matmul(a[:, k0:k1], panel, out=tile)
                np.add(y, tile, out=y)
    if params.alpha != 1:
        np.multiply(y, params.alpha, out=y)
    if full is not None:
        np.add(y, full, out=y)
    KE.bias_act_cols(y, bias, params.code, params.p0, params.p1)


def _cost(ctx):
    m, k, n, pr, by_output = _dims(ctx)
    panels = -(-_weight(ctx).shape[0] // pr)
    return (gemm_cost_us(m, k, n, ctx.blas_threads) + panels * 2 * CALL_OVERHEAD_US + copy_cost_us(m * n * (1 if by_output else 2))
            + k * n * NS_PER_DEQUANT_ELEMENT / 1e3)


for _op in ("Gemm", "MatMul"):
    register_algorithm(Algorithm(
        _op, "hybrid", run=_run, cost=_cost, applies=_applies, pack=_pack, setup=_setup,
        scratch_bytes=lambda ctx: sum(_layout(ctx)[5:]), weight_bytes=lambda ctx: 4 * _dims(ctx)[2],
        doc="compressed weight expanded one row panel at a time; partial GEMMs into the output"))
