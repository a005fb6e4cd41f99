"""Cast / CastLike references written from the format definitions: a float8/float4 target rounds to the
nearest of its finite values, found by enumerating every bit pattern of the type (ties to the even
pattern); float16 rounds through struct's IEEE half packing, bfloat16 by rounding float32 bits; e8m0 is
the power of two picked by round_mode; integers truncate toward zero."""

import math
import struct

import ml_dtypes
import numpy as np

ONNX_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
              9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64, 16: ml_dtypes.bfloat16,
              17: ml_dtypes.float8_e4m3fn, 18: ml_dtypes.float8_e4m3fnuz, 19: ml_dtypes.float8_e5m2,
              20: ml_dtypes.float8_e5m2fnuz, 21: ml_dtypes.uint4, 22: ml_dtypes.int4, 23: ml_dtypes.float4_e2m1fn,
              24: ml_dtypes.float8_e8m0fnu, 25: ml_dtypes.uint2, 26: ml_dtypes.int2}
_SMALL_FLOATS = {np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e5m2,
                                       ml_dtypes.float8_e5m2fnuz, ml_dtypes.float4_e2m1fn)}
_SMALL_INTS = {np.dtype(t) for t in (ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2)}


def _finite_values(dtype):
    """(value, bit pattern) of every finite value of a <= 8-bit float type."""
    n = 16 if dtype == np.dtype(ml_dtypes.float4_e2m1fn) else 256
    values = np.arange(n, dtype=np.uint8).view(dtype).astype(np.float64)
    return [(float(v), c) for c, v in enumerate(values) if math.isfinite(v)]


def _round_small_float(v, table, saturate):
    """Nearest finite value, ties to the even bit pattern; beyond the largest: saturate or overflow."""
    if math.isnan(v):
        return math.nan
    big = max(t[0] for t in table)
    if abs(v) > big and saturate:
        return math.copysign(big, v)
    return min(table, key=lambda t: (abs(t[0] - v), t[1] & 1))[0]


def _e8m0(v, mode, saturate):
    """A power of two 2^k, -127 <= k <= 127: at or below |v| (down), at or above (up), or the nearer
    one with ties up (nearest); |v| below 2^-127 (including 0) gives 2^-127."""
    a = abs(v)
    if not math.isfinite(a):
        return math.nan
    k = -127
    while k < 127 and 2.0 ** (k + 1) <= a:
        k += 1
    down, up = 2.0 ** k, 2.0 ** (k + 1)
    if a <= down or mode == "down":
        return down
    pick = up if mode == "up" or a - down >= up - a else down
    if pick > 2.0 ** 127:
        return 2.0 ** 127 if saturate else math.nan
    return pick


def _bf16(v):
    bits = struct.unpack("<I", struct.pack("<f", v))[0]
    bits += 0x7FFF + ((bits >> 16) & 1)
    return struct.unpack("<f", struct.pack("<I", (bits >> 16) << 16))[0]


def cast(x, dtype, saturate=1, round_mode="up"):
    dtype = np.dtype(dtype)
    vals = np.asarray(x).astype(np.float64).ravel().tolist() if np.asarray(x).dtype != np.bool_ \
        else [float(b) for b in np.asarray(x).ravel()]
    if dtype == np.bool_:
        out = [v != 0 for v in vals]
    elif dtype.kind in "iu" or dtype in _SMALL_INTS:
        out = [float(math.trunc(v)) for v in vals]
    elif dtype == np.dtype(ml_dtypes.float8_e8m0fnu):
        out = [_e8m0(v, round_mode, saturate) for v in vals]
    elif dtype in _SMALL_FLOATS:
        table = _finite_values(dtype)
        always = dtype == np.dtype(ml_dtypes.float4_e2m1fn)  # no inf or NaN to overflow into
        out = [_round_small_float(v, table, saturate or always) for v in vals]
    elif dtype == np.float16:
        out = [struct.unpack("<e", struct.pack("<e", v))[0] for v in vals]
    elif dtype == np.dtype(ml_dtypes.bfloat16):
        out = [_bf16(v) for v in vals]
    elif dtype == np.float32:
        out = [struct.unpack("<f", struct.pack("<f", v))[0] for v in vals]
    else:
        out = vals
    return np.array(out, bool if dtype == np.bool_ else np.float64).reshape(np.shape(x))


REFERENCES = {
    "Cast": lambda attrs, x: [cast(x[0], ONNX_TYPES[attrs.get("to", 1)], attrs.get("saturate", 1),
                                   attrs.get("round_mode", "up"))],
    "CastLike": lambda attrs, x: [cast(x[0], np.asarray(x[1]).dtype, attrs.get("saturate", 1),
                                       attrs.get("round_mode", "up"))],
}
