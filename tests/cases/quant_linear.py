import ml_dtypes
import numpy as np

from tests.harness import Case, rng

R = rng(11)
X = (R.standard_normal((2, 3, 5, 4)) * 3).astype(np.float32)
# Values exactly halfway between two quantization steps (x / scale = k + 0.5): rounding must be half to even.
HALVES = (np.arange(-6, 6, dtype=np.float32) + np.float32(0.5)) * np.float32(0.25)
S = np.float32(0.05)
PER_CH = np.array([0.02, 0.1, 0.5], np.float32)
U8 = R.integers(0, 256, (2, 3, 5, 4), dtype=np.uint8)
I8 = R.integers(-128, 128, (2, 3, 5, 4), dtype=np.int8)
W8 = R.integers(-128, 128, (5, 3, 3, 3), dtype=np.int8)
BLOCK_X = R.standard_normal((3, 7)).astype(np.float32)
BLOCK_S = (R.random((3, 4)) * 0.1 + 0.01).astype(np.float32)  # ceil(7 / 2) = 4 blocks; the last one is short
BLOCK_ZP = R.integers(100, 150, (3, 4), dtype=np.uint8)


def _c(op, inputs, attrs=None, const=(), id="", n_outputs=1):
    return Case(op, inputs, attrs or {}, const_inputs=const, id=id, n_outputs=n_outputs)


CASES = [
    _c("QuantizeLinear", [X, S, np.uint8(128)], const=(1, 2), id="u8-tensor"),
    _c("QuantizeLinear", [X, S, np.int8(-3)], const=(1, 2), id="i8-tensor-saturating"),
    _c("QuantizeLinear", [HALVES, np.float32(0.25), np.uint8(10)], const=(1, 2), id="ties-to-even"),
    _c("QuantizeLinear", [X, S], const=(1,), id="no-zero-point-u8"),
    _c("QuantizeLinear", [X, PER_CH, np.array([0, 5, 250], np.uint8)], {"axis": 1}, const=(1, 2), id="per-axis"),
    _c("QuantizeLinear", [X, PER_CH[:2].repeat(2)[:4], np.array([1, -2, 3, 0], np.int16)], {"axis": -1},
       const=(1, 2), id="per-last-axis-i16"),
    _c("QuantizeLinear", [BLOCK_X, BLOCK_S, BLOCK_ZP], {"axis": 1, "block_size": 2}, const=(1, 2), id="blocked"),
    _c("QuantizeLinear", [X, np.float32(0.5)], {"output_dtype": 22}, const=(1,), id="int4-output-dtype"),
    _c("QuantizeLinear", [X, np.float32(0.5), np.zeros((), ml_dtypes.uint4)], const=(1, 2), id="uint4"),
    _c("QuantizeLinear", [X * 100, np.float32(0.5), np.zeros((), ml_dtypes.float8_e4m3fn)], const=(1, 2),
       id="e4m3fn-saturate"),
    _c("QuantizeLinear", [X, np.float32(0.01), np.zeros((), ml_dtypes.float8_e5m2)], const=(1, 2), id="e5m2"),
    _c("DequantizeLinear", [U8, S, np.uint8(128)], const=(1, 2), id="u8-tensor"),
    _c("DequantizeLinear", [I8, PER_CH, np.array([0, -5, 7], np.int8)], {"axis": 1}, const=(1, 2), id="per-axis"),
    _c("DequantizeLinear", [U8[0, 0, :3], BLOCK_S[:, :2], BLOCK_ZP[:, :2]], {"axis": 1, "block_size": 3},
       const=(1, 2), id="blocked"),
    _c("DequantizeLinear", [I8.astype(np.int32) * 1000, np.float32(1e-4)], const=(1,), id="int32-no-zp"),
    _c("DequantizeLinear", [X.astype(ml_dtypes.float8_e4m3fn), np.float16(0.5)], const=(1,), id="e4m3fn-to-f16"),
    _c("DequantizeLinear", [U8 % 16, np.float32(0.3), np.uint8(3)], {"output_dtype": 10}, const=(1, 2),
       id="output-dtype-f16"),
    _c("DynamicQuantizeLinear", [X], id="mixed-sign", n_outputs=3),
    _c("DynamicQuantizeLinear", [np.abs(X) + 1], id="positive", n_outputs=3),
    _c("MatMulInteger", [U8[0, 0], U8[1, 1, :4, :3], np.uint8(12), np.uint8(200)], const=(1, 2, 3), id="u8-2d"),
    _c("MatMulInteger", [I8[0], I8[1, :, :4], np.int8(-1)], const=(2,), id="i8-batched-no-b-zp"),
    _c("MatMulInteger", [U8[0, 0], I8[1, 1, :4, :3], np.arange(5, dtype=np.uint8), np.array([1, 2, 3], np.int8)],
       const=(1, 2, 3), id="per-row-per-column-zp"),
    _c("QLinearMatMul", [U8[0, 0], np.float32(0.02), np.uint8(120), U8[1, 1, :4, :3], np.float32(0.03),
                         np.uint8(128), np.float32(0.05), np.uint8(130)], const=(1, 2, 3, 4, 5, 6, 7), id="u8"),
    _c("QLinearMatMul", [I8[0], np.float32(0.02), np.int8(0), I8[1, :, :4], np.array([0.01, 0.02, 0.03, 0.04],
                         np.float32), np.int8(0), np.float32(0.3), np.int8(-5)], const=(1, 2, 4, 5, 6, 7),
       id="i8-batched-per-column"),
    _c("ConvInteger", [U8[:, :, :, :], U8[:2, :, :2, :2] // 8, np.uint8(100), np.uint8(3)], {"pads": [1, 0, 1, 1]},
       const=(1, 2, 3), id="u8-pads"),
    _c("ConvInteger", [I8[:1, :2], W8[:4, :1], np.int8(1), np.array([0, 1, -1, 2], np.int8)],
       {"group": 2, "strides": [2, 1], "dilations": [1, 2], "pads": [1, 2, 1, 2]}, const=(1, 2, 3),
       id="i8-group-stride-dilation-per-channel-zp"),
    _c("ConvInteger", [U8[:, :, 0], U8[:3, :, 0, :3]], {"auto_pad": "SAME_UPPER"}, const=(1,), id="1d-same-no-zp"),
    _c("QLinearConv", [U8, np.float32(0.02), np.uint8(128), W8, np.float32(0.01), np.int8(0),
                       np.float32(0.15), np.uint8(120), np.arange(-200, 300, 100, dtype=np.int32)],
       {"pads": [1, 1, 1, 1]},
       const=(1, 2, 3, 4, 5, 6, 7, 8), id="u8-bias"),
    _c("QLinearConv", [I8, np.float32(0.05), np.int8(-2), W8[:3, :1, :2, :2], np.array([0.01, 0.02, 0.005], np.float32),
                       np.array([0, 0, 0], np.int8), np.float32(0.08), np.int8(3)], {"group": 3, "strides": [2, 2]},
       const=(1, 2, 3, 4, 5, 6, 7), id="i8-depthwise-per-channel"),
    _c("com.microsoft::QGemm", [U8[0, 0], np.float32(0.02), np.uint8(120), I8[1, 1, :3, :4], np.float32(0.03),
                                np.int8(0), np.array([100, -50, 7], np.int32), np.float32(0.07), np.uint8(125)],
       {"transB": 1}, const=(1, 2, 3, 4, 5, 6, 7, 8), id="u8-transB-bias-requant"),
    _c("com.microsoft::QGemm", [I8[0, 0].T, np.float32(0.02), np.int8(3), I8[1, 1, :4, :3],
                                np.array([0.01, 0.02, 0.04], np.float32), np.array([0, 0, 0], np.int8)],
       {"transA": 1, "alpha": 0.5}, const=(1, 2, 3, 4, 5), id="i8-transA-float-out-per-column"),
    _c("com.microsoft::QLinearGlobalAveragePool", [U8, np.float32(0.02), np.uint8(128), np.float32(0.01),
                                                   np.uint8(100)], const=(1, 2, 3, 4), id="nchw"),
    _c("com.microsoft::QLinearGlobalAveragePool", [I8, np.float32(0.05), np.int8(-3), np.float32(0.02),
                                                   np.int8(4)], {"channels_last": 1}, const=(1, 2, 3, 4),
       id="channels-last-i8"),
]
