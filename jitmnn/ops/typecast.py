"""Cast and CastLike between every dtype jitmnn holds: numpy's, plus ml_dtypes' bfloat16, float8 (e4m3fn,
e4m3fnuz, e5m2, e5m2fnuz, e8m0fnu), float4_e2m1fn and int4/uint4/int2/uint2 (converter ONNX_DTYPES).

ONNX semantics beyond a plain astype:
- saturate (opset 19+, default 1) applies to the four float8 types with sign: values beyond the type's
  range, infinities included, become its largest finite value of that sign; NaN stays NaN. saturate=0
  is the plain conversion (overflow to inf, or NaN for the types without inf).
- float8e8m0 (a bare exponent: 2^(e-127), no sign, no zero, 0xFF = NaN) takes round_mode (opset 25,
  default "up"): the power of two at or above |x| ("up"), at or below ("down"), or the nearer one with
  ties away from zero ("nearest"); with saturate, rounding never carries past the largest exponent.
Everything else is ml_dtypes' / numpy's astype (round to nearest even; float to integer truncates).

No kernel: the ml_dtypes types have no Numba equivalent, and a float32 <-> int cast is a copy-speed
numpy loop. (This module registers Cast after shape_ops.py's older definition and replaces it.)"""

from __future__ import annotations

import numpy as np

from ..converter.onnx_import import ONNX_DTYPES
from ..errors import ShapeError
from ._dtypes import Lazy
from ._dtypes import ml as ml_dtypes
from .registry import OpDef, register_op

# ONNX element types whose cast honours `saturate`
_SATURATING = Lazy(lambda: frozenset(np.dtype(getattr(ml_dtypes, n)) for n in
                                     ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")))


def _e8m0() -> np.dtype:
    return np.dtype(ml_dtypes.float8_e8m0fnu)


_ROUND_MODES = ("up", "down", "nearest")
_NUMPY_FLOATS = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.float64))


def _attrs(node):
    """(saturate, round_mode) with ONNX defaults, validated."""
    saturate = int(node.attrs.get("saturate", 1))
    round_mode = node.attrs.get("round_mode", "up")
    if isinstance(round_mode, bytes):
        round_mode = round_mode.decode()
    if round_mode not in _ROUND_MODES:
        raise ShapeError(f"{node.op} attribute round_mode={round_mode!r} is not one of {_ROUND_MODES}")
    return saturate, round_mode


def _target(to) -> np.dtype:
    name = ONNX_DTYPES.get(int(to))
    if name is None:
        raise ShapeError(f"Cast attribute to={to}: ONNX type {to} is not supported")
    return np.dtype(getattr(ml_dtypes, name, None) or name)


def _saturate_float8(x: np.ndarray, target: np.dtype) -> np.ndarray:
    """Clamp to the float8 type's finite range in a dtype that holds the input exactly (so the only
    rounding is the final astype), then convert."""
    if x.dtype not in _NUMPY_FLOATS:
        x = x.astype(np.float64 if x.dtype.kind in "iub" else np.float32)
    info = ml_dtypes.finfo(target)
    lo, hi = np.asarray(float(info.min), x.dtype), np.asarray(float(info.max), x.dtype)
    return np.clip(x, lo, hi).astype(target)


def _to_e8m0(x: np.ndarray, saturate: int, round_mode: str) -> np.ndarray:
    """From float32 bits: the biased exponent is the e8m0 code; the mantissa decides the rounding."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    exponent = ((bits >> 23) & 0xFF).astype(np.int32)
    mantissa = bits & 0x7FFFFF
    special = exponent == 0xFF  # inf and NaN -> NaN
    if round_mode == "up":
        carry = mantissa != 0
    elif round_mode == "down":
        carry = np.zeros(bits.shape, bool)
    else:  # nearest: mantissa >= 1.5 rounds up; an exact 1.5 stays down only for the smallest exponent
        carry = (mantissa > 0x400000) | ((mantissa == 0x400000) & (exponent > 0))
    code = exponent + carry
    if saturate:
        code = np.minimum(code, 0xFE)
    code = np.where(special, 0xFF, code)  # without saturate, a carry out of 0xFE is NaN as well
    return code.astype(np.uint8).view(_e8m0())


def cast_array(x, target: np.dtype, saturate: int = 1, round_mode: str = "up") -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == target:
        return x.copy()
    if target == _e8m0():
        return _to_e8m0(x, saturate, round_mode)
    if saturate and target in _SATURATING:
        return _saturate_float8(x, target)
    return x.astype(target)


def _infer_cast(node, shapes, dtypes, consts):
    _attrs(node)
    return [(shapes[0], _target(node.attrs.get("to", 1)))]


def _ref_cast(node, x):
    return [cast_array(x[0], _target(node.attrs.get("to", 1)), *_attrs(node))]


def _infer_castlike(node, shapes, dtypes, consts):
    if len(shapes) != 2 or shapes[0] is None or dtypes[1] is None:
        raise ShapeError(f"CastLike takes (input, target_type), got {len(shapes)} inputs")
    _attrs(node)
    return [(shapes[0], np.dtype(dtypes[1]))]


def _ref_castlike(node, x):
    return [cast_array(x[0], np.asarray(x[1]).dtype, *_attrs(node))]


register_op(OpDef("Cast", _infer_cast, _ref_cast))
register_op(OpDef("CastLike", _infer_castlike, _ref_castlike))
