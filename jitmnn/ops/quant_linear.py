"""ONNX linear quantization: QuantizeLinear / DequantizeLinear (opsets 10-25: per-tensor, per-axis and blocked
scales; int8/uint8/int16/uint16/int4/uint4/int2/uint2 and float8/float4/float6 targets through ml_dtypes;
saturate, output_dtype, precision), DynamicQuantizeLinear, and the integer ops ONNX Runtime's quantizer emits:
MatMulInteger, ConvInteger (int32 out), QLinearMatMul, QLinearConv (requantized out).

Integer products are exact. They are computed as a float64 GEMM (BLAS) on the zero-point-shifted operands: every
operand is an integer of at most 17 bits (|x - zp| <= 2^16 for 16-bit types) and every partial sum is an integer
below K * 2^32, so float64 holds every intermediate exactly as long as K * 2^32 < 2^53 (checked; an int64 GEMM
otherwise). The int32 result then wraps like ONNX Runtime's int32 accumulators would.

Requantization follows ONNX Runtime (MlasRequantizeOutput): multiplier = x_scale * w_scale / y_scale in float32,
y = saturate(round_half_even(float32(acc) * multiplier) + y_zero_point); that is what makes QOperator models
agree with it bit for bit. Everything here is plain numpy: quantized tensors are small integer dtypes Numba
kernels do not take, and QDQ models spend their time in the float ops between the Q/DQ pairs."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from . import _util as U
from .conv import _spatial_attrs
from .elementwise import broadcast_shape
from ._dtypes import Lazy
from ._dtypes import ml as ml_dtypes
from .registry import OpDef, register_op

# ONNX TensorProto element type -> numpy dtype, for the types quantization touches.
ONNX_TYPES = Lazy(lambda: {
    1: np.dtype(np.float32), 2: np.dtype(np.uint8), 3: np.dtype(np.int8), 4: np.dtype(np.uint16),
    5: np.dtype(np.int16), 6: np.dtype(np.int32), 7: np.dtype(np.int64), 10: np.dtype(np.float16),
    11: np.dtype(np.float64), 16: np.dtype(ml_dtypes.bfloat16), 17: np.dtype(ml_dtypes.float8_e4m3fn),
    18: np.dtype(ml_dtypes.float8_e4m3fnuz), 19: np.dtype(ml_dtypes.float8_e5m2),
    20: np.dtype(ml_dtypes.float8_e5m2fnuz), 21: np.dtype(ml_dtypes.uint4), 22: np.dtype(ml_dtypes.int4),
    23: np.dtype(ml_dtypes.float4_e2m1fn), 24: np.dtype(ml_dtypes.float8_e8m0fnu), 25: np.dtype(ml_dtypes.uint2),
    26: np.dtype(ml_dtypes.int2), 27: np.dtype(ml_dtypes.float6_e2m3fn), 28: np.dtype(ml_dtypes.float6_e3m2fn),
})
_INT_TARGETS = Lazy(lambda: {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, ml_dtypes.uint4,
                                                  ml_dtypes.int4, ml_dtypes.uint2, ml_dtypes.int2)})
# float8 targets honour `saturate`; the 4/6-bit floats have no inf/NaN, so they always saturate.
_FLOAT8_TARGETS = Lazy(lambda: {np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
                                                     ml_dtypes.float8_e5m2, ml_dtypes.float8_e5m2fnuz)})
_SMALL_FLOAT_TARGETS = Lazy(lambda: {np.dtype(t) for t in (ml_dtypes.float4_e2m1fn, ml_dtypes.float6_e2m3fn,
                                                          ml_dtypes.float6_e3m2fn)})
_DEQUANT_SOURCES = Lazy(lambda: _INT_TARGETS | _FLOAT8_TARGETS | _SMALL_FLOAT_TARGETS | {np.dtype(np.int32)})
_FLOAT_OUT = Lazy(lambda: {np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)})


def onnx_dtype(node, attr: str, code) -> np.dtype:
    try:
        return ONNX_TYPES[int(code)]
    except KeyError:
        raise ShapeError(f"{node.op}: {attr}={code} is not a supported ONNX element type here") from None


def int_range(dtype) -> tuple:
    info = ml_dtypes.iinfo(dtype) if dtype.kind == "V" else np.iinfo(dtype)
    return int(info.min), int(info.max)


def _input(x, i):
    return x[i] if len(x) > i and x[i] is not None else None


# ----- scale / zero-point granularity ---------------------------------------------------------------------
def param_layout(node, x_shape, p_shape, what: str):
    """How a scale/zero-point of shape p_shape maps onto x: ("tensor",), ("axis", axis) or
    ("block", axis, block_size). Raises ShapeError naming the op for shapes that fit none of them."""
    rank = len(x_shape)
    p_shape = tuple(p_shape)
    block = int(node.attrs.get("block_size", 0) or 0)
    if block < 0:
        raise ShapeError(f"{node.op}: block_size={block} must be >= 0")
    if block == 0 and U.numel(p_shape) == 1 and len(p_shape) <= 1:
        return ("tensor",)
    axis = U.norm_axis(int(node.attrs.get("axis", 1)), max(rank, 1), f"{node.op} axis")
    if block:
        want = tuple(-(-d // block) if i == axis else d for i, d in enumerate(x_shape))
        if p_shape != want:
            raise ShapeError(f"{node.op}: blocked {what} of shape {p_shape} does not fit x {tuple(x_shape)} with "
                             f"axis={axis}, block_size={block} (expected {want})")
        return ("block", axis, block)
    if len(p_shape) != 1 or rank == 0 or p_shape[0] != x_shape[axis]:
        raise ShapeError(f"{node.op}: {what} of shape {p_shape} is neither a scalar nor a 1-D tensor of x's axis "
                         f"{axis} (x {tuple(x_shape)}); a blocked {what} needs block_size")
    return ("axis", axis)


def expand_param(p, layout, x_shape):
    """p broadcastable against x (blocked parameters repeated block_size times along the axis)."""
    p = np.asarray(p)
    if layout[0] == "tensor":
        return p.reshape(())
    if layout[0] == "axis":
        shape = [1] * len(x_shape)
        shape[layout[1]] = -1
        return p.reshape(shape)
    _, axis, block = layout
    return np.repeat(p, block, axis=axis).take(np.arange(x_shape[axis]), axis=axis)


# ----- QuantizeLinear -----------------------------------------------------------------------------------
def _quant_out_dtype(node, zp_dtype):
    attr = node.attrs.get("output_dtype", 0)
    out = onnx_dtype(node, "output_dtype", attr) if attr else None
    if zp_dtype is not None:
        if out is not None and out != np.dtype(zp_dtype):
            raise ShapeError(f"{node.op}: output_dtype {out} differs from the zero point's type {np.dtype(zp_dtype)}")
        out = np.dtype(zp_dtype)
    out = out if out is not None else np.dtype(np.uint8)
    if out not in _INT_TARGETS | _FLOAT8_TARGETS | _SMALL_FLOAT_TARGETS:
        raise ShapeError(f"{node.op}: output type {out} is not a quantized type")
    return out


def _check_params(node, shapes, what):
    x = shapes[0]
    layouts = [param_layout(node, x, shapes[i], what[i]) for i in (1, 2) if len(shapes) > i and shapes[i] is not None]
    if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != tuple(shapes[1]) \
            and not (layouts[0] == ("tensor",) and U.numel(shapes[2]) == 1):
        raise ShapeError(f"{node.op}: zero point shape {tuple(shapes[2])} != scale shape {tuple(shapes[1])}")
    return layouts


def _infer_quantize(node, shapes, dtypes, consts):
    _check_params(node, shapes, ("", "scale", "zero point"))
    zp = dtypes[2] if len(dtypes) > 2 and shapes[2] is not None else None
    return [(tuple(shapes[0]), _quant_out_dtype(node, zp))]


def _division_dtype(node, scale_dtype):
    """`precision` if given, else the scale's type; integer/e8m0 scales divide in float32."""
    code = node.attrs.get("precision", 0)
    dt = onnx_dtype(node, "precision", code) if code else np.dtype(scale_dtype)
    return dt if dt in _FLOAT_OUT | {np.dtype(np.float64)} else np.dtype(np.float32)


def quantize(node, x, scale, zp, out_dtype):
    """saturate(round_half_even(x / scale) + zp) for integer targets; x / scale + zp cast (saturating unless
    saturate=0) for float targets."""
    x = np.asarray(x)
    layout = param_layout(node, x.shape, np.shape(scale), "scale")
    prec = _division_dtype(node, np.asarray(scale).dtype)
    q = x.astype(prec) / expand_param(scale, layout, x.shape).astype(prec)
    zpf = None if zp is None else expand_param(np.asarray(zp), layout, x.shape).astype(np.float64)
    if out_dtype in _INT_TARGETS:
        v = np.rint(q.astype(np.float64))  # the quotient is rounded in its own precision, then exactly widened
        if zpf is not None:
            v = v + zpf
        lo, hi = int_range(out_dtype)
        return np.clip(v, lo, hi).astype(out_dtype)
    v = q.astype(np.float32) if zpf is None else (q.astype(np.float64) + zpf).astype(np.float32)
    saturate = int(node.attrs.get("saturate", 1))
    if out_dtype in _SMALL_FLOAT_TARGETS or saturate:
        fmax = float(ml_dtypes.finfo(out_dtype).max)
        v = np.where(np.isnan(v), v, np.clip(v, -fmax, fmax))
    return v.astype(out_dtype)


def _ref_quantize(node, x):
    zp = _input(x, 2)
    return [quantize(node, x[0], x[1], zp, _quant_out_dtype(node, None if zp is None else zp.dtype))]


register_op(OpDef("QuantizeLinear", _infer_quantize, _ref_quantize))


# ----- DequantizeLinear ---------------------------------------------------------------------------------
def _dequant_out_dtype(node, scale_dtype):
    attr = node.attrs.get("output_dtype", 0)
    out = onnx_dtype(node, "output_dtype", attr) if attr else np.dtype(scale_dtype)
    if out not in _FLOAT_OUT:
        raise ShapeError(f"{node.op}: output type {out} is not float32, float16 or bfloat16")
    return out


def _infer_dequantize(node, shapes, dtypes, consts):
    if np.dtype(dtypes[0]) not in _DEQUANT_SOURCES:
        raise ShapeError(f"{node.op}: input type {np.dtype(dtypes[0])} is not a quantized type")
    _check_params(node, shapes, ("", "scale", "zero point"))
    return [(tuple(shapes[0]), _dequant_out_dtype(node, dtypes[1]))]


def dequantize(node, x, scale, zp, out_dtype):
    """(x - zp) * scale, the multiply in the output type. x - zp is an exact integer (or float8 value) and is
    exactly representable in float32 for every source type narrower than 25 bits."""
    x = np.asarray(x)
    layout = param_layout(node, x.shape, np.shape(scale), "scale")
    diff = x.astype(np.float64)
    if zp is not None:
        diff = diff - expand_param(np.asarray(zp), layout, x.shape).astype(np.float64)
    return (diff.astype(out_dtype) * expand_param(scale, layout, x.shape).astype(out_dtype)).astype(out_dtype)


def _ref_dequantize(node, x):
    return [dequantize(node, x[0], x[1], _input(x, 2), _dequant_out_dtype(node, np.asarray(x[1]).dtype))]


register_op(OpDef("DequantizeLinear", _infer_dequantize, _ref_dequantize))


# ----- DynamicQuantizeLinear ----------------------------------------------------------------------------
def _infer_dynamic(node, shapes, dtypes, consts):
    if np.dtype(dtypes[0]) != np.float32:
        raise ShapeError(f"{node.op}: input must be float32, got {np.dtype(dtypes[0])}")
    return [(tuple(shapes[0]), np.uint8), ((), np.float32), ((), np.uint8)]


def dynamic_quantize(x):
    """uint8 with the range [min(x, 0), max(x, 0)] mapped onto [0, 255], all in float32 (ONNX's function body)."""
    x = np.asarray(x, np.float32)
    hi = np.float32(max(0.0, float(x.max()))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(x.min()))) if x.size else np.float32(0)
    scale = np.float32((hi - lo) if hi != lo else np.float32(1)) / np.float32(255)
    zp = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zp, 0, 255)
    return [y.astype(np.uint8), np.array(scale, np.float32), np.array(zp, np.uint8)]


register_op(OpDef("DynamicQuantizeLinear", _infer_dynamic, lambda node, x: dynamic_quantize(x[0])))


# ----- exact integer products -----------------------------------------------------------------------------
_F64_EXACT_BITS = 53


def int_matmul(a, b):
    """Exact a @ b (numpy matmul broadcasting) of integer arrays, as int64 (see the module doc for why a float64
    GEMM is exact here)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    k = a.shape[-1] if a.ndim else 1
    amax = int(np.abs(a).max()) if a.size else 0
    bmax = int(np.abs(b).max()) if b.size else 0
    if k * amax * bmax < 2 ** _F64_EXACT_BITS:
        return np.rint(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(np.int64)
    return np.matmul(a, b)


def wrap_int32(acc):
    """int64 -> int32 with two's-complement wraparound (what an int32 accumulator produces)."""
    return np.asarray(acc, np.int64).astype(np.int32)


def _shifted(node, v, zp, axis_len, axis, what):
    """v - zp as int64; zp is a scalar or (axis_len,) along `axis` of v."""
    v = np.asarray(v).astype(np.int64)
    if zp is None:
        return v
    zp = np.asarray(zp).astype(np.int64)
    if zp.size == 1:
        return v - zp.reshape(())
    if zp.ndim == v.ndim and zp.ndim > 1:  # MatMulInteger's N-D per-row form [D1, D2, M, 1]
        return v - zp
    if zp.ndim != 1 or zp.shape[0] != axis_len:
        raise ShapeError(f"{node.op}: {what} of shape {zp.shape} is neither a scalar nor a vector of length {axis_len}")
    shape = [1] * v.ndim
    shape[axis] = axis_len
    return v - zp.reshape(shape)


_INT8ISH = {np.dtype(np.uint8), np.dtype(np.int8)}


def _check_int8(node, dtypes, idx):
    for i in idx:
        if i < len(dtypes) and dtypes[i] is not None and np.dtype(dtypes[i]) not in _INT8ISH:
            raise ShapeError(f"{node.op}: input {i} must be int8 or uint8, got {np.dtype(dtypes[i])}")


def _matmul_shape(node, a, b):
    a1, b1 = list(a), list(b)
    if not a1 or not b1:
        raise ShapeError(f"{node.op}: operands must have rank >= 1, got {tuple(a)} and {tuple(b)}")
    a2 = [1] + a1 if len(a1) == 1 else a1
    b2 = b1 + [1] if len(b1) == 1 else b1
    if a2[-1] != b2[-2]:
        raise ShapeError(f"{node.op}: inner dimensions differ: {tuple(a)} @ {tuple(b)}")
    out = list(broadcast_shape([tuple(a2[:-2]), tuple(b2[:-2])])) + [a2[-2], b2[-1]]
    if len(a1) == 1:
        out.pop(-2)
    if len(b1) == 1:
        out.pop(-1)
    return tuple(out)


def _shift_matmul_operands(node, a, b, azp, bzp):
    """(a - a_zp, b - b_zp): a_zp per row of a (its second-to-last axis) or scalar, b_zp per column or scalar."""
    a = np.asarray(a)
    b = np.asarray(b)
    rows_axis = a.ndim - 2 if a.ndim >= 2 else 0
    ai = _shifted(node, a, azp, a.shape[rows_axis] if a.ndim >= 2 else 1, rows_axis, "a_zero_point")
    bi = _shifted(node, b, bzp, b.shape[-1], b.ndim - 1, "b_zero_point")
    return ai, bi


# ----- MatMulInteger / QLinearMatMul --------------------------------------------------------------------
def _infer_matmul_integer(node, shapes, dtypes, consts):
    _check_int8(node, dtypes, (0, 1, 2, 3))
    return [(_matmul_shape(node, shapes[0], shapes[1]), np.int32)]


def _ref_matmul_integer(node, x):
    a, b = _shift_matmul_operands(node, x[0], x[1], _input(x, 2), _input(x, 3))
    return [wrap_int32(int_matmul(a, b))]


register_op(OpDef("MatMulInteger", _infer_matmul_integer, _ref_matmul_integer))


def requantize(node, acc, multiplier, y_zp, out_dtype):
    """saturate(round_half_even(float32(acc) * multiplier) + y_zp); multiplier is float32, broadcastable to acc."""
    v = np.rint(np.asarray(acc).astype(np.float32) * multiplier).astype(np.float64)
    if y_zp is not None:
        if np.size(y_zp) != 1:
            raise ShapeError(f"{node.op}: y_zero_point must be a scalar (per-tensor), got shape {np.shape(y_zp)}")
        v = v + float(np.asarray(y_zp).reshape(-1)[0])
    lo, hi = int_range(out_dtype)
    return np.clip(v, lo, hi).astype(out_dtype)


def _along(node, p, ndim, axis, length, what):
    """A float32 scale as a scalar or, when it has `length` elements, shaped to broadcast along `axis`."""
    p = np.asarray(p).astype(np.float32)
    if p.size == 1:
        return p.reshape(())
    if p.size != length:
        raise ShapeError(f"{node.op}: {what} has {p.size} elements; expected 1 or {length}")
    shape = [1] * ndim
    shape[axis] = length
    return p.reshape(shape)


def scale_multiplier(node, in_scale, w_scale, out_scale):
    """in_scale * w_scale / out_scale in float32, in ONNX Runtime's order (scales may arrive as float16); each
    already shaped to broadcast against the accumulator."""
    if np.size(out_scale) != 1:
        raise ShapeError(f"{node.op}: y_scale must be a scalar (per-tensor), got shape {np.shape(out_scale)}")
    return (in_scale * w_scale) / np.asarray(out_scale).astype(np.float32).reshape(())


def _infer_qlinear_matmul(node, shapes, dtypes, consts):
    _check_int8(node, dtypes, (0, 2, 3, 5, 7))
    return [(_matmul_shape(node, shapes[0], shapes[3]), np.dtype(dtypes[7]))]


def _ref_qlinear_matmul(node, x):
    a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = x[:8]
    ai, bi = _shift_matmul_operands(node, a, b, a_zp, b_zp)
    acc = int_matmul(ai, bi)
    if np.ndim(a) >= 2 and np.ndim(b) >= 2:  # a_scale per row of a, b_scale per column of b (or scalars)
        s_a = _along(node, a_scale, acc.ndim, acc.ndim - 2, np.shape(a)[-2], "a_scale")
        s_b = _along(node, b_scale, acc.ndim, acc.ndim - 1, np.shape(b)[-1], "b_scale")
    else:
        s_a = _along(node, a_scale, acc.ndim, 0, 1, "a_scale")
        s_b = _along(node, b_scale, acc.ndim, 0, 1, "b_scale")
    mult = scale_multiplier(node, s_a, s_b, y_scale)
    return [requantize(node, acc, mult, y_zp, np.asarray(y_zp).dtype)]


register_op(OpDef("QLinearMatMul", _infer_qlinear_matmul, _ref_qlinear_matmul))


# ----- ConvInteger / QLinearConv ------------------------------------------------------------------------
def int_conv_geometry(node, x_shape, w_shape):
    """(kernel, strides, dilations, pads, group, out_spatial) for an N-D NC... convolution."""
    if len(x_shape) < 3 or len(w_shape) != len(x_shape):
        raise ShapeError(f"{node.op}: needs N,C,spatial... input and a weight of the same rank; got "
                         f"{tuple(x_shape)} and {tuple(w_shape)}")
    group = int(node.attrs.get("group", 1))
    C, M, Cg = int(x_shape[1]), int(w_shape[0]), int(w_shape[1])
    if group < 1 or Cg * group != C or M % group:
        raise ShapeError(f"{node.op}: group={group} does not fit input channels {C} and weight {tuple(w_shape)}")
    ks, strides, dil, pads = _spatial_attrs(node.attrs, x_shape[2:], w_shape[2:])
    r = len(ks)
    out = []
    for i in range(r):
        o = (int(x_shape[2 + i]) + pads[i] + pads[i + r] - (ks[i] - 1) * dil[i] - 1) // strides[i] + 1
        if o < 1:
            raise ShapeError(f"{node.op}: output would be empty: input {tuple(x_shape)}, kernel {ks}, pads {pads}")
        out.append(o)
    return ks, strides, dil, pads, group, tuple(out)


def int_conv(node, x, w):
    """Exact N-D grouped convolution of int64 arrays x [N, C, *S] and w [M, C/g, *K] -> int64 [N, M, *O]
    (zero padding; the operands already have their zero points subtracted): im2col + exact GEMM per group."""
    ks, strides, dil, pads, group, out = int_conv_geometry(node, x.shape, w.shape)
    r = len(ks)
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + r]) for i in range(r)])
    windows = np.lib.stride_tricks.sliding_window_view(
        xp, [(ks[i] - 1) * dil[i] + 1 for i in range(r)], axis=tuple(range(2, 2 + r)))
    sel = (slice(None), slice(None)) + tuple(slice(None, (out[i] - 1) * strides[i] + 1, strides[i]) for i in range(r)) \
        + tuple(slice(None, None, dil[i]) for i in range(r))
    patches = windows[sel]  # [N, C, *O, *K]
    p_out = U.numel(out)
    k_len = cg * U.numel(ks)
    mg = m // group
    y = np.empty((n, m, p_out), np.int64)
    for g in range(group):
        cols = patches[:, g * cg:(g + 1) * cg]
        cols = np.moveaxis(cols, 1, 1 + r).reshape(n * p_out, k_len)  # [N*P, Cg*K] in the weight's order
        wg = w[g * mg:(g + 1) * mg].reshape(mg, k_len)
        y[:, g * mg:(g + 1) * mg] = int_matmul(cols, wg.T).reshape(n, p_out, mg).transpose(0, 2, 1)
    return y.reshape((n, m) + out)


def _conv_out_shape(node, x, w):
    *_, out = int_conv_geometry(node, x, w)
    return (int(x[0]), int(w[0])) + out


def _infer_conv_integer(node, shapes, dtypes, consts):
    _check_int8(node, dtypes, (0, 1, 2, 3))
    return [(_conv_out_shape(node, shapes[0], shapes[1]), np.int32)]


def _ref_conv_integer(node, x):
    xi = _shifted(node, x[0], _input(x, 2), 1, 0, "x_zero_point")
    w = np.asarray(x[1])
    wi = _shifted(node, w, _input(x, 3), w.shape[0], 0, "w_zero_point")
    return [wrap_int32(int_conv(node, xi, wi))]


register_op(OpDef("ConvInteger", _infer_conv_integer, _ref_conv_integer))


def _infer_qlinear_conv(node, shapes, dtypes, consts):
    _check_int8(node, dtypes, (0, 2, 3, 5, 7))
    out = _conv_out_shape(node, shapes[0], shapes[3])
    if len(shapes) > 8 and shapes[8] is not None:
        if tuple(shapes[8]) != (out[1],) or np.dtype(dtypes[8]) != np.int32:
            raise ShapeError(f"{node.op}: bias must be int32 of shape ({out[1]},), got {np.dtype(dtypes[8])} "
                             f"{tuple(shapes[8])}")
    return [(out, np.dtype(dtypes[7]))]


def _ref_qlinear_conv(node, x):
    xq, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp = x[:8]
    w = np.asarray(w)
    xi = _shifted(node, xq, x_zp, 1, 0, "x_zero_point")
    wi = _shifted(node, w, w_zp, w.shape[0], 0, "w_zero_point")
    acc = int_conv(node, xi, wi)
    bias = _input(x, 8)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64).reshape((1, -1) + (1,) * (acc.ndim - 2))
    acc = wrap_int32(acc)
    if np.size(x_scale) != 1:
        raise ShapeError(f"{node.op}: x_scale must be a scalar (per-tensor), got shape {np.shape(x_scale)}")
    s_w = _along(node, w_scale, acc.ndim, 1, acc.shape[1], "w_scale")
    mult = scale_multiplier(node, np.asarray(x_scale).astype(np.float32).reshape(()), s_w, y_scale)
    return [requantize(node, acc, mult, y_zp, np.asarray(y_zp).dtype)]


register_op(OpDef("QLinearConv", _infer_qlinear_conv, _ref_qlinear_conv))


# ----- ONNX Runtime contrib ops that quantize_static(QuantFormat.QOperator) emits -------------------------
# Registered under the importer's "domain::op" name. They compute as ONNX Runtime's CPU kernels do (int32
# accumulation, float32 multiplier alpha * a_scale * b_scale / y_scale, MlasRequantizeOutput rounding).
MS = "com.microsoft::"


def _gemm_operands(node, a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"{node.op}: A and B must be 2-D, got {a.shape} and {b.shape}")
    return (a.T if int(node.attrs.get("transA", 0)) else a), (b.T if int(node.attrs.get("transB", 0)) else b)


def _infer_qgemm(node, shapes, dtypes, consts):
    _check_int8(node, dtypes, (0, 2, 3, 5))
    a, b = shapes[0], shapes[3]
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"{node.op}: A and B must be 2-D, got {tuple(a)} and {tuple(b)}")
    m, k = (a[1], a[0]) if int(node.attrs.get("transA", 0)) else (a[0], a[1])
    k2, n = (b[1], b[0]) if int(node.attrs.get("transB", 0)) else (b[0], b[1])
    if k != k2:
        raise ShapeError(f"{node.op}: inner dimensions differ: {tuple(a)} and {tuple(b)} (transA/transB applied)")
    if len(shapes) > 6 and shapes[6] is not None:
        if broadcast_shape([tuple(shapes[6]), (m, n)]) != (m, n):
            raise ShapeError(f"{node.op}: C of shape {tuple(shapes[6])} does not broadcast to ({m}, {n})")
    has_yzp = len(shapes) > 8 and shapes[8] is not None
    return [((m, n), np.dtype(dtypes[8]) if has_yzp else np.dtype(np.float32))]


def _ref_qgemm(node, x):
    a, b = _gemm_operands(node, x[0], x[3])
    ai, bi = _shift_matmul_operands(node, a, b, x[2], x[5])
    acc = int_matmul(ai, bi)
    c = _input(x, 6)
    if c is not None:
        acc = acc + np.asarray(c, np.int64)
    acc = wrap_int32(acc)
    alpha = np.float32(node.attrs.get("alpha", 1.0))
    if np.size(x[1]) != 1:
        raise ShapeError(f"{node.op}: a_scale must be a scalar (per-tensor)")
    s_b = _along(node, x[4], 2, 1, acc.shape[1], "b_scale")
    scale = alpha * np.asarray(x[1]).astype(np.float32).reshape(()) * s_b
    y_scale, y_zp = _input(x, 7), _input(x, 8)
    if y_scale is not None:
        scale = scale / np.asarray(y_scale).astype(np.float32).reshape(())
    if y_zp is None:
        return [(acc.astype(np.float32) * scale).astype(np.float32)]
    return [requantize(node, acc, scale, y_zp, np.asarray(y_zp).dtype)]


register_op(OpDef(MS + "QGemm", _infer_qgemm, _ref_qgemm))


def _infer_qgap(node, shapes, dtypes, consts):
    _check_int8(node, dtypes, (0, 2, 4))
    x = tuple(shapes[0])
    if len(x) < 3:
        raise ShapeError(f"{node.op}: input must be N,C,spatial... (or N,spatial...,C), got {x}")
    last = int(node.attrs.get("channels_last", 0))
    out = (x[0],) + (1,) * (len(x) - 2) + (x[-1],) if last else x[:2] + (1,) * (len(x) - 2)
    return [(out, np.dtype(dtypes[4]))]


def _ref_qgap(node, x):
    """sum(x) - x_zp * size as int, times x_scale / (y_scale * size) in float32, requantized."""
    xq = np.asarray(x[0])
    last = int(node.attrs.get("channels_last", 0))
    axes = tuple(range(1, xq.ndim - 1)) if last else tuple(range(2, xq.ndim))
    size = U.numel([xq.shape[i] for i in axes])
    for i, what in ((1, "x_scale"), (2, "x_zero_point"), (3, "y_scale"), (4, "y_zero_point")):
        if np.size(x[i]) != 1:
            raise ShapeError(f"{node.op}: {what} must be a scalar (per-tensor)")
    acc = xq.astype(np.int64).sum(axis=axes, keepdims=True) - int(np.asarray(x[2]).reshape(-1)[0]) * size
    mult = np.asarray(x[1]).astype(np.float32).reshape(()) / (
        np.asarray(x[3]).astype(np.float32).reshape(()) * np.float32(size))
    return [requantize(node, acc, mult, x[4], np.asarray(x[4]).dtype)]


register_op(OpDef(MS + "QLinearGlobalAveragePool", _infer_qgap, _ref_qgap))
