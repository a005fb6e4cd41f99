"""Cast / CastLike across the dtypes ONNX tests use (numpy reference only: ml_dtypes' types have no kernel).
Values include exact ties, out-of-range values (saturation) and negative fractions (truncation)."""

import ml_dtypes
import numpy as np

from tests.harness import Case, rng

F = rng(21).standard_normal((3, 5, 7)).astype(np.float32) * 4
# Beyond every float8 range and at the infinities: saturate=1 (the default) clamps to the largest finite.
WIDE = np.array([0.48, -0.7, 1e6, -1e6, 3e4, 500.0, -300.0, np.inf, -np.inf, 1e-7, -0.0], np.float32)
# Exact e8m0 decisions: powers of two, 1.5 * 2^k (the nearest-mode tie), in between, zero, negative.
E8M0_IN = np.array([0.0, 0.124, 0.25, 0.375, 0.5, 1.1, 1.5, 2.0, 3.0, 6.1, 1e30, -0.75], np.float32)
# In range of int2/uint2 (after abs) and, scaled, of int4/uint4: out-of-range integer casts are undefined.
SMALL_INTS = np.array([-2.9, -1.0, -0.5, 0.0, 0.7, 1.0, 1.9], np.float32)
TO = {"float16": 10, "bfloat16": 16, "e4m3fn": 17, "e4m3fnuz": 18, "e5m2": 19, "e5m2fnuz": 20, "uint4": 21,
      "int4": 22, "float4": 23, "e8m0": 24, "uint2": 25, "int2": 26}

CASES = [
    Case("Cast", [F], {"to": TO["float16"]}, id="f32-to-f16"),
    Case("Cast", [F], {"to": TO["bfloat16"]}, id="f32-to-bf16"),
    Case("Cast", [F.astype(np.float16)], {"to": 1}, id="f16-to-f32"),
    Case("Cast", [F.astype(ml_dtypes.bfloat16)], {"to": 11}, id="bf16-to-f64"),
    Case("Cast", [F.astype(np.float64)], {"to": 1}, id="f64-to-f32"),
    Case("Cast", [F], {"to": 6}, id="f32-to-i32-truncates"),
    Case("Cast", [np.array([-3, 0, 7, 2049, 2051], np.int64)], {"to": 10}, id="i64-to-f16"),
    Case("Cast", [np.array([True, False, True])], {"to": 1}, id="bool-to-f32"),
    Case("Cast", [np.array([0.0, -2.5, np.nan], np.float32)], {"to": 9}, id="f32-to-bool"),
    *[Case("Cast", [WIDE], {"to": TO[t]}, id=f"f32-to-{t}-saturate") for t in ("e4m3fn", "e4m3fnuz", "e5m2", "e5m2fnuz")],
    Case("Cast", [np.array([0.48, 500.0, -6e4, np.inf, -np.inf], np.float16)], {"to": TO["e4m3fn"]}, id="f16-to-e4m3fn-saturate"),
    # saturate=0 only on values in range: overflow gives inf/NaN, which no tolerance compares.
    Case("Cast", [F], {"to": TO["e5m2"], "saturate": 0}, id="f32-to-e5m2-no-saturate"),
    Case("Cast", [F * np.float32(10)], {"to": TO["e4m3fn"], "saturate": 0}, id="f32-to-e4m3fn-no-saturate"),
    Case("Cast", [F.astype(ml_dtypes.float8_e4m3fn)], {"to": 1}, id="e4m3fn-to-f32"),
    Case("Cast", [F.astype(ml_dtypes.float8_e5m2fnuz)], {"to": 10}, id="e5m2fnuz-to-f16"),
    Case("Cast", [np.array([0.25, -0.26, 0.75, 1.25, 2.6, -5.0, 5.0, 6.0], np.float32)], {"to": TO["float4"]},
         id="f32-to-float4-ties"),
    Case("Cast", [SMALL_INTS * np.float32(2.5)], {"to": TO["int4"]}, id="f32-to-int4"),
    Case("Cast", [np.abs(SMALL_INTS) * np.float32(5)], {"to": TO["uint4"]}, id="f32-to-uint4"),
    Case("Cast", [SMALL_INTS], {"to": TO["int2"]}, id="f32-to-int2"),
    Case("Cast", [np.abs(SMALL_INTS)], {"to": TO["uint2"]}, id="f32-to-uint2"),
    Case("Cast", [np.arange(-8, 8).astype(ml_dtypes.int4)], {"to": 3}, id="int4-to-i8"),
    Case("Cast", [np.arange(0, 4).astype(ml_dtypes.uint2)], {"to": 1}, id="uint2-to-f32"),
    Case("Cast", [E8M0_IN], {"to": TO["e8m0"]}, id="f32-to-e8m0-up"),
    Case("Cast", [E8M0_IN], {"to": TO["e8m0"], "round_mode": "down"}, id="f32-to-e8m0-down"),
    Case("Cast", [E8M0_IN], {"to": TO["e8m0"], "round_mode": "nearest"}, id="f32-to-e8m0-nearest"),
    Case("Cast", [np.array([3e38, 2.5e38], np.float32)], {"to": TO["e8m0"]}, id="f32-to-e8m0-saturate"),
    Case("Cast", [E8M0_IN[:10].astype(np.float16)], {"to": TO["e8m0"]}, id="f16-to-e8m0"),
    # CastLike: the target type is input 1's dtype, its values unused.
    Case("CastLike", [F, np.zeros(1, np.float16)], id="to-f16"),
    Case("CastLike", [WIDE, np.zeros(2, ml_dtypes.float8_e4m3fnuz)], id="to-e4m3fnuz-saturate"),
    Case("CastLike", [F, np.zeros(1, ml_dtypes.float8_e5m2)], {"saturate": 0}, id="to-e5m2-no-saturate"),
    Case("CastLike", [SMALL_INTS * np.float32(2.5), np.zeros(1, ml_dtypes.int4)], id="to-int4"),
    Case("CastLike", [F.astype(np.float16), np.zeros((), np.int64)], id="f16-to-i64"),
]
