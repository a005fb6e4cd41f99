"""Conv / ConvTranspose / MatMul / Gemm cases: channels 1, 3, 13, 17; sizes 7x9 and 17x18; batch 2;
strides 1/2; asymmetric pads; dilation 2; depthwise and grouped g=2; every fused activation; bias
present and absent; weights as plan-time constants. Each case names the thing it pins."""

import numpy as np

from tests.harness import Case, rng

ACTS = [("relu", []), ("clip", [0.0, 6.0]), ("hardsigmoid", [0.2, 0.5]), ("hardswish", []), ("sigmoid", []),
        ("silu", []), ("tanh", []), ("gelu", [])]


def _f32(shape, seed, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(np.float32)


def conv_case(cid, n, c, hw, k, ks, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1, bias=True,
              act=None, seed=0):
    kh, kw = ks
    x = _f32((n, c) + tuple(hw), seed)
    w = _f32((k, c // group, kh, kw), seed + 1, scale=1.0 / np.sqrt(c // group * kh * kw))
    b = _f32((k,), seed + 2) if bias else None
    attrs = {"kernel_shape": [kh, kw], "strides": list(strides), "pads": list(pads), "dilations": list(dil),
             "group": group}
    if act:
        attrs["activation"], attrs["activation_params"] = act
    inputs = [x, w] + ([b] if bias else [])
    return Case("Conv", inputs, attrs, const_inputs=(1, 2), id=cid)


CONV_CASES = [
    # 1x1 stride 1: the gemm1x1 path, with and without bias, channels that break 16/32 tiles
    conv_case("1x1-c17k13", 2, 17, (7, 9), 13, (1, 1), act=ACTS[0]),
    conv_case("1x1-c3k17-nobias", 1, 3, (17, 18), 17, (1, 1), bias=False),
    conv_case("1x1-c1k1", 1, 1, (7, 9), 1, (1, 1), act=ACTS[4]),
    # 1x1 stride 2 and 1x1 with padding are not gemm1x1 (im2col must cover them)
    conv_case("1x1-s2", 2, 13, (17, 18), 3, (1, 1), strides=(2, 2)),
    conv_case("1x1-pad", 1, 3, (7, 9), 13, (1, 1), pads=(1, 0, 0, 1), act=ACTS[1]),
    # 3x3 general
    conv_case("3x3-c3k13-p1", 2, 3, (7, 9), 13, (3, 3), pads=(1, 1, 1, 1), act=ACTS[2]),
    conv_case("3x3-c17k17-s2-asym", 1, 17, (17, 18), 17, (3, 3), strides=(2, 2), pads=(0, 1, 2, 1), act=ACTS[3]),
    conv_case("3x3-dil2", 1, 13, (17, 18), 3, (3, 3), pads=(2, 2, 2, 2), dil=(2, 2), act=ACTS[5]),
    conv_case("5x3-s21-d12", 2, 3, (17, 18), 17, (5, 3), strides=(2, 1), pads=(2, 0, 1, 3), dil=(1, 2),
              bias=False, act=ACTS[6]),
    conv_case("7x7-s2-stem", 1, 3, (17, 18), 13, (7, 7), strides=(2, 2), pads=(3, 3, 3, 3), act=ACTS[7]),
    conv_case("3x3-c1k1-nopad", 1, 1, (7, 9), 1, (3, 3)),
    # stride 1, output as wide as the input but padded on one side only (im2col's same-width path
    # zeroes two columns on the left of tap 0 and one of tap 1, none on the right), and a 5x5 pad 2
    conv_case("3x3-same-asym", 2, 13, (7, 9), 5, (3, 3), pads=(0, 2, 2, 0), act=ACTS[1]),
    conv_case("5x5-same-p2", 1, 3, (17, 18), 4, (5, 5), pads=(2, 2, 2, 2)),
    # grouped (g=2, not depthwise)
    conv_case("g2-3x3", 2, 6, (7, 9), 4, (3, 3), pads=(1, 1, 1, 1), group=2, act=ACTS[0]),
    conv_case("g2-1x1", 1, 26, (7, 9), 34, (1, 1), group=2, bias=False),
    # depthwise: any kernel, stride, pad, dilation
    conv_case("dw-3x3-c13", 2, 13, (7, 9), 13, (3, 3), pads=(1, 1, 1, 1), group=13, act=ACTS[1]),
    conv_case("dw-3x3-s2-c17", 1, 17, (17, 18), 17, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), group=17,
              act=ACTS[3]),
    conv_case("dw-5x5-asym-nobias", 1, 3, (17, 18), 3, (5, 5), pads=(2, 1, 0, 2), group=3, bias=False),
    conv_case("dw-3x3-dil2-s2", 2, 13, (17, 18), 13, (3, 3), strides=(2, 2), pads=(2, 2, 2, 2), dil=(2, 2),
              group=13, act=ACTS[5]),
    conv_case("dw-5x3-nopad", 1, 17, (7, 9), 17, (5, 3), group=17, act=ACTS[7]),
    # PP-OCR shapes: 5x5 with stride (2, 1) (the one-pass-per-kernel-row path), 3x3 with stride (1, 2)
    conv_case("dw-5x5-s21", 2, 13, (17, 18), 13, (5, 5), strides=(2, 1), pads=(2, 2, 2, 2), group=13,
              act=ACTS[3]),
    conv_case("dw-3x5-s12-d2", 1, 3, (17, 18), 3, (3, 5), strides=(1, 2), pads=(1, 4, 1, 3), dil=(1, 2),
              group=3, act=ACTS[2]),
    conv_case("dw-3x3-s12", 1, 17, (7, 9), 17, (3, 3), strides=(1, 2), pads=(1, 1, 1, 1), group=17),
]

# 1-D conv (the rec model's sequence convs): height-1 path
CONV_CASES.append(Case("Conv", [_f32((2, 13, 17), 40), _f32((3, 13, 3), 41, 0.3), _f32((3,), 42)],
                       {"kernel_shape": [3], "strides": [2], "pads": [1, 0], "dilations": [1], "group": 1},
                       const_inputs=(1, 2), id="conv1d"))
CONV_CASES.append(Case("Conv", [_f32((2, 17, 9), 43), _f32((13, 17, 1), 44, 0.25)],
                       {"kernel_shape": [1], "strides": [1], "pads": [0, 0], "dilations": [1], "group": 1,
                        "activation": "silu"}, const_inputs=(1,), id="conv1d-1x1"))

# 1-D with dilation + groups (height-1 im2col), and with auto_pad left to the shape rule
CONV_CASES.append(Case("Conv", [_f32((1, 6, 19), 45), _f32((4, 3, 3), 46, 0.3), _f32((4,), 47)],
                       {"kernel_shape": [3], "strides": [1], "pads": [2, 1], "dilations": [2], "group": 2},
                       const_inputs=(1, 2), id="conv1d-g2-dil2"))
CONV_CASES.append(Case("Conv", [_f32((1, 5, 11), 48), _f32((5, 1, 4), 49, 0.3)],
                       {"kernel_shape": [4], "strides": [2], "auto_pad": "SAME_LOWER", "group": 5},
                       const_inputs=(1,), id="conv1d-dw-same-lower"))
# 3-D: no kernel takes it, the N-D numpy reference runs (strides, asymmetric pads, dilation, groups). Kept
# out of CONV_CASES, which test_conv_algorithms runs through im2col.
CONV3D_CASES = []
CONV3D_CASES.append(Case("Conv", [_f32((2, 4, 5, 6, 7), 30), _f32((6, 2, 2, 3, 2), 31, 0.3), _f32((6,), 32)],
                       {"kernel_shape": [2, 3, 2], "strides": [1, 2, 2], "pads": [1, 0, 1, 0, 2, 1],
                        "dilations": [2, 1, 1], "group": 2}, const_inputs=(1, 2), id="conv3d-g2"))
CONV3D_CASES.append(Case("Conv", [_f32((1, 3, 4, 5, 4), 33), _f32((2, 3, 3, 3, 3), 34, 0.3)],
                       {"kernel_shape": [3, 3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2, 1],
                        "activation": "relu"}, const_inputs=(1,), id="conv3d-same-upper-relu"))

TIERS = {"bf16": "BF16"}


def convt_case(cid, n, c, hw, k, ks, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1, bias=True,
               act=None, seed=50, **extra):
    kh, kw = ks
    x = _f32((n, c) + tuple(hw), seed)
    w = _f32((c, k // group, kh, kw), seed + 1, scale=1.0 / np.sqrt(c * kh * kw))
    attrs = {"kernel_shape": [kh, kw], "strides": list(strides), "pads": list(pads), "dilations": list(dil),
             "group": group, **extra}
    if act:
        attrs["activation"], attrs["activation_params"] = act
    inputs = [x, w] + ([_f32((k,), seed + 2)] if bias else [])
    return Case("ConvTranspose", inputs, attrs, const_inputs=(1, 2), id=cid)


CONVT_CASES = [
    # PP-OCRv4 det's upsampler: k=2, s=2, pad 0 (non-overlapping taps)
    convt_case("k2s2-ppocr", 2, 13, (7, 9), 17, (2, 2), strides=(2, 2), act=ACTS[0]),
    # kernel == stride writes each output once (no zeroing): must still cover every pixel, also grouped;
    # output_padding leaves a border row/column no tap reaches (zeroing required again)
    convt_case("k3s3-g2-nobias", 1, 6, (7, 9), 4, (3, 3), strides=(3, 3), group=2, bias=False),
    convt_case("k2s2-outpad", 1, 3, (7, 9), 13, (2, 2), strides=(2, 2), output_padding=[1, 1]),
    # overlapping taps must accumulate
    convt_case("k3s1-p1", 1, 17, (7, 9), 3, (3, 3), pads=(1, 1, 1, 1), bias=False),
    convt_case("k3s2-asym-op", 1, 3, (17, 18), 13, (3, 3), strides=(2, 2), pads=(1, 0, 0, 1),
               output_padding=[1, 0], act=ACTS[4]),
    convt_case("k4s2-dil2", 2, 1, (7, 9), 1, (4, 4), strides=(2, 2), pads=(1, 1, 1, 1), dil=(2, 2), act=ACTS[1]),
    convt_case("g2-k3s2", 1, 6, (7, 9), 4, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), group=2, act=ACTS[7]),
    convt_case("outshape", 1, 3, (7, 9), 3, (3, 3), strides=(2, 2), output_shape=[14, 18]),
    convt_case("same-upper-odd", 1, 3, (5, 6), 2, (3, 2), strides=(2, 2), auto_pad="SAME_UPPER"),
    convt_case("same-lower-odd", 1, 3, (5, 6), 2, (3, 2), strides=(2, 2), auto_pad="SAME_LOWER"),
]


def _convt_nd(cid, x_shape, k, ks, group=1, bias=True, seed=60, **attrs):
    c = x_shape[1]
    x = _f32(x_shape, seed)
    w = _f32((c, k // group) + tuple(ks), seed + 1, scale=0.3)
    inputs = [x, w] + ([_f32((k,), seed + 2)] if bias else [])
    return Case("ConvTranspose", inputs, {"kernel_shape": list(ks), "group": group, **attrs}, const_inputs=(1, 2),
                id=cid)


CONVT_CASES += [
    # 1-D runs the 2-D kernel with height 1 (was refused: "2-D NCHW only")
    _convt_nd("1d", (2, 3, 7), 4, (3,), strides=[2], pads=[1, 0], output_padding=[1]),
    _convt_nd("1d-g3-dil2", (1, 6, 5), 3, (2,), group=3, dilations=[2], bias=False),
]
# Geometries only the numpy reference takes (kept out of CONVT_CASES, which test_conv_algorithms runs
# through gemm_col2im).
CONVT_REF_CASES = [
    # output_shape beyond the taps' reach (negative total padding: the extra border holds only the bias);
    # was refused as "larger than the input allows" (test_convtranspose_output_shape)
    convt_case("outshape-wider", 1, 2, (3, 3), 4, (3, 3), strides=(3, 2), output_shape=[10, 8]),
    convt_case("outshape-much-wider", 1, 2, (3, 4), 2, (2, 3), strides=(2, 1), output_shape=[9, 9]),
    # 3-D
    _convt_nd("3d", (1, 2, 3, 4, 3), 3, (3, 2, 2), strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1],
              output_padding=[1, 0, 0]),
    _convt_nd("3d-g2-outshape", (1, 4, 2, 3, 3), 2, (2, 2, 3), group=2, strides=[2, 2, 1], output_shape=[5, 6, 4]),
]


def mm_case(cid, a_shape, b_shape, const_b=True, act=None, seed=70):
    a = _f32(a_shape, seed)
    b = _f32(b_shape, seed + 1, scale=1.0 / np.sqrt(a_shape[-1]))
    attrs = {}
    if act:
        attrs["activation"], attrs["activation_params"] = act
    return Case("MatMul", [a, b], attrs, const_inputs=(1,) if const_b else (), id=cid)


MATMUL_CASES = [
    # PP-OCR rec: [1, T, C] x constant [C, D] weights (one flattened GEMM)
    mm_case("seq-x-weight", (1, 17, 13), (13, 33), act=ACTS[6]),
    mm_case("batch2-x-weight", (2, 7, 17), (17, 3)),
    # attention: [B, H, T, d] x [B, H, d, T], both at run time
    mm_case("attention", (2, 3, 9, 13), (2, 3, 13, 9), const_b=False),
    # broadcast batch dims and a rank-1 operand
    mm_case("broadcast", (2, 1, 7, 13), (3, 13, 5), const_b=False, act=ACTS[0]),
    mm_case("vec-right", (3, 17), (17,)),
    mm_case("vec-left", (17,), (17, 13), act=ACTS[7]),
]


def gemm_case(cid, m, k, n, trans_a=0, trans_b=0, alpha=1.0, beta=1.0, c_shape=None, const_c=True, act=None,
              seed=90):
    a = _f32((k, m) if trans_a else (m, k), seed)
    b = _f32((n, k) if trans_b else (k, n), seed + 1, scale=1.0 / np.sqrt(k))
    attrs = {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta}
    if act:
        attrs["activation"], attrs["activation_params"] = act
    inputs = [a, b]
    if c_shape is not None:
        inputs.append(_f32(c_shape, seed + 2))
    return Case("Gemm", inputs, attrs, const_inputs=(1, 2) if const_c else (1,), id=cid)


GEMM_CASES = [
    # classifier head: x [N, C] @ W^T + b (transB=1, row bias)
    gemm_case("fc-transB", 2, 17, 13, trans_b=1, c_shape=(13,), act=ACTS[2]),
    gemm_case("no-c", 3, 13, 17),
    gemm_case("transA-alpha-beta", 7, 9, 5, trans_a=1, alpha=0.5, beta=2.0, c_shape=(1, 5), act=ACTS[5]),
    gemm_case("full-c", 4, 3, 6, trans_a=1, trans_b=1, beta=0.25, c_shape=(4, 6)),
    gemm_case("col-c", 4, 13, 6, c_shape=(4, 1), act=ACTS[3]),
    gemm_case("scalar-c", 1, 13, 17, trans_b=1, c_shape=(1,), alpha=2.0),
    gemm_case("runtime-c", 5, 7, 3, beta=3.0, c_shape=(5, 3), const_c=False),
    gemm_case("runtime-row-c", 5, 7, 3, c_shape=(3,), const_c=False, act=ACTS[0]),
]

CASES = CONV_CASES + CONV3D_CASES + CONVT_CASES + CONVT_REF_CASES + MATMUL_CASES + GEMM_CASES
