"""MatMul (numpy broadcasting, batched) and Gemm (alpha, beta, transA, transB, optional C), both with the
fused activation attribute. The GEMM itself is numpy's BLAS (np.matmul with out=, which releases the GIL
and allocates nothing for contiguous or transposed 2-D operands); bias and activation are one Numba
pass over the output.

A constant operand (the weight of x @ W) is used as stored when it is contiguous float32 (no copy,
weight_bytes 0), else copied once to contiguous float32 at pack time and counted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.errors import ShapeError
from jitmnn.kernels import act as A
from jitmnn.kernels import epilogue as KE

from .conv import CALL_OVERHEAD_US, act_args, const_value, copy_cost_us, gemm_cost_us
from .registry import Algorithm, OpDef, register_algorithm, register_op


def _act_name(node):
    name = node.attrs.get("activation")
    return name.decode() if isinstance(name, bytes) else name


def _act_np(node, y):
    return A.numpy_apply(y, _act_name(node), node.attrs.get("activation_params") or ())


def _is_f32(ctx):
    return all(d is None or d == np.float32 for d in ctx.in_dtypes)


def _packed_operand(ctx, i):
    """A constant operand as contiguous float32 (the stored array itself when possible), or None."""
    v = ctx.consts[i] if i < len(ctx.consts) else None
    return None if v is None else np.ascontiguousarray(const_value(v), dtype=np.float32)


def _copy_bytes(ctx, i) -> int:
    v = ctx.consts[i] if i < len(ctx.consts) else None
    if v is None or (isinstance(v, np.ndarray) and v.dtype == np.float32 and v.flags.c_contiguous):
        return 0
    return 4 * int(np.prod(ctx.in_shapes[i]))


# ----------------------------------------------------------------------------------------------------
# MatMul
def _matmul_shape(a, b):
    a, b = tuple(a), tuple(b)
    if not a or not b:
        raise ShapeError(f"MatMul operands must have rank >= 1, got {a} and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(f"MatMul inner dimensions differ: {a} @ {b}")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ShapeError(f"MatMul batch dimensions do not broadcast: {a} @ {b}") from None
    out = tuple(batch) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _infer_matmul(node, shapes, dtypes, consts):
    return [(_matmul_shape(shapes[0], shapes[1]), dtypes[0])]


def _ref_matmul(node, inputs):
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    if a.dtype.kind == "f" and a.dtype.itemsize < 4:  # fp16/bf16: accumulate in float32, round once (as ORT)
        y = np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(a.dtype)
    else:
        y = np.matmul(a, b)
    return [np.asarray(_act_np(node, y), dtype=np.result_type(inputs[0], inputs[1]))]


register_op(OpDef("MatMul", _infer_matmul, _ref_matmul))


def _pack_matmul(ctx):
    return _packed_operand(ctx, 0), _packed_operand(ctx, 1)


@dataclass(frozen=True)
class MatMulParams:
    """One flat GEMM over all leading rows or a batched np.matmul, then the fused activation (zero bias)."""

    flat: bool  # x[..., T, C] @ W[C, D]: one GEMM over the rows of x reshaped to [-1, kdim]
    kdim: int
    ncols: int
    zeros: np.ndarray | None  # [ncols] zero bias for the activation pass; None without an activation
    code: int
    p0: np.float32
    p1: np.float32


def _setup_matmul(ctx):
    a, b = ctx.in_shapes[0], ctx.in_shapes[1]
    out = ctx.out_shapes[0]
    # x[..., T, C] @ W[C, D] with a contiguous x is one GEMM over all leading rows.
    flat = len(b) == 2 and len(a) >= 2
    ncols = out[-1] if len(out) >= 1 and len(b) >= 2 else 1
    code, p0, p1 = act_args(ctx)
    zeros = np.zeros(ncols, np.float32) if code else None
    return MatMulParams(flat, int(a[-1]), ncols, zeros, code, p0, p1)


def _run_matmul(packed, params: MatMulParams, ins, outs, scratch):
    pa, pb = packed
    a = ins[0] if pa is None else pa
    b = ins[1] if pb is None else pb
    y = outs[0]
    if params.flat:
        np.matmul(a.reshape(-1, params.kdim), b, out=y.reshape(-1, params.ncols))
    else:
        np.matmul(a, b, out=y)
    if params.code:
        KE.bias_act_cols(y.reshape(-1, params.ncols), params.zeros, params.code, params.p0, params.p1)


def _cost_matmul(ctx):
    a = ctx.in_shapes[0]
    out = ctx.out_shapes[0]
    k = int(a[-1])
    macs_out = int(np.prod(out)) if out else 1
    batches = int(np.prod(out[:-2])) if len(out) > 2 else 1
    return (gemm_cost_us(1, k, macs_out, ctx.blas_threads) + batches * CALL_OVERHEAD_US + copy_cost_us(macs_out))


register_algorithm(Algorithm(
    "MatMul", "blas", run=_run_matmul, cost=_cost_matmul, applies=_is_f32, pack=_pack_matmul,
    setup=_setup_matmul, weight_bytes=lambda ctx: _copy_bytes(ctx, 0) + _copy_bytes(ctx, 1),
    doc="np.matmul (BLAS) into the output + fused activation"))


# ----------------------------------------------------------------------------------------------------
# Gemm
def _gemm_dims(node, a, b):
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"Gemm needs 2-D A and B, got {tuple(a)} and {tuple(b)}")
    m, ka = (a[1], a[0]) if node.attrs.get("transA", 0) else (a[0], a[1])
    kb, n = (b[1], b[0]) if node.attrs.get("transB", 0) else (b[0], b[1])
    if ka != kb:
        raise ShapeError(f"Gemm inner dimensions differ: A {tuple(a)} B {tuple(b)} "
                         f"(transA={node.attrs.get('transA', 0)}, transB={node.attrs.get('transB', 0)})")
    return int(m), int(ka), int(n)


def _infer_gemm(node, shapes, dtypes, consts):
    m, _, n = _gemm_dims(node, shapes[0], shapes[1])
    if len(shapes) > 2 and shapes[2] is not None:
        try:
            np.broadcast_shapes(tuple(shapes[2]), (m, n))
        except ValueError:
            raise ShapeError(f"Gemm C {tuple(shapes[2])} does not broadcast to ({m}, {n})") from None
    return [((m, n), dtypes[0])]


def _ref_gemm(node, inputs):
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if node.attrs.get("transA", 0):
        a = a.T
    if node.attrs.get("transB", 0):
        b = b.T
    y = np.float32(node.attrs.get("alpha", 1.0)) * (a @ b)
    if c is not None:
        y = y + np.float32(node.attrs.get("beta", 1.0)) * c
    return [np.asarray(_act_np(node, y), dtype=a.dtype)]


register_op(OpDef("Gemm", _infer_gemm, _ref_gemm))


def _has_c(ctx):
    return len(ctx.in_shapes) > 2 and ctx.in_shapes[2] is not None


def gemm_bias(ctx, n: int):
    """(column bias [N], beta*C for other C shapes or None) from a constant C; zeros when there is none."""
    beta = np.float32(ctx.attr("beta", 1.0))
    bias, full = np.zeros(n, np.float32), None
    if _has_c(ctx) and ctx.consts[2] is not None and beta != 0:
        c = np.asarray(const_value(ctx.consts[2]), np.float32) * beta
        if c.size == 1:
            bias = np.full(n, c.reshape(()), np.float32)
        elif c.ndim >= 1 and c.shape[-1] == n and c.size == n:
            bias = np.ascontiguousarray(c.reshape(n))
        else:
            full = c
    return bias, full


def _pack_gemm(ctx):
    """(A or None, B or None, column bias [N], beta*C for other C shapes or None)."""
    _, _, n = _gemm_dims(ctx.node, ctx.in_shapes[0], ctx.in_shapes[1])
    return (_packed_operand(ctx, 0), _packed_operand(ctx, 1)) + gemm_bias(ctx, n)


@dataclass(frozen=True)
class GemmParams:
    """Gemm attributes, whether C only comes at run time, and the fused activation."""

    trans_a: bool
    trans_b: bool
    alpha: np.float32
    beta: np.float32
    run_time_c: bool  # C is an input not known at plan time: beta*C is added in the run
    code: int
    p0: np.float32
    p1: np.float32


def _setup_gemm(ctx):
    run_time_c = _has_c(ctx) and ctx.consts[2] is None
    return GemmParams(bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0)), np.float32(ctx.attr("alpha", 1.0)),
                      np.float32(ctx.attr("beta", 1.0)), run_time_c, *act_args(ctx))


def _run_gemm(packed, params: GemmParams, ins, outs, scratch):
    pa, pb, bias, full = packed
    alpha, beta = params.alpha, params.beta
    a = ins[0] if pa is None else pa
    b = ins[1] if pb is None else pb
    y = outs[0]
    np.matmul(a.T if params.trans_a else a, b.T if params.trans_b else b, out=y)
    if alpha != 1:
        np.multiply(y, alpha, out=y)
    if full is not None:
        np.add(y, full, out=y)
    elif params.run_time_c and beta != 0:
        # y + beta*C without a temporary: beta * (y/beta + C)
        if beta != 1:
            np.divide(y, beta, out=y)
        np.add(y, ins[2], out=y)
        if beta != 1:
            np.multiply(y, beta, out=y)
    KE.bias_act_cols(y, bias, params.code, params.p0, params.p1)


def _cost_gemm(ctx):
    m, k, n = _gemm_dims(ctx.node, ctx.in_shapes[0], ctx.in_shapes[1])
    return gemm_cost_us(m, k, n, ctx.blas_threads) + copy_cost_us(m * n)


register_algorithm(Algorithm(
    "Gemm", "blas", run=_run_gemm, cost=_cost_gemm, applies=_is_f32, pack=_pack_gemm, setup=_setup_gemm,
    weight_bytes=lambda ctx: _copy_bytes(ctx, 0) + _copy_bytes(ctx, 1) + 4 * int(ctx.out_shapes[0][1]),
    doc="np.matmul (BLAS, transposes as views) + fused alpha/beta*C/activation"))
