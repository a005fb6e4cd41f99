"""Every broadcast pattern the zoo and PP-OCR models use, on tile-breaking shapes, plus int64 shape maths."""

import numpy as np

from tests.harness import Case, rng

f32 = np.float32


def r(seed, shape, scale=1.0, positive=False):
    a = rng(seed).standard_normal(shape).astype(np.float32) * np.float32(scale)
    return np.abs(a) + np.float32(0.5) if positive else a


NCHW = r(1, (2, 13, 7, 9))
NCHW2 = r(2, (2, 13, 7, 9))
CH = r(3, (1, 13, 1, 1))            # per-channel constant
NC11 = r(4, (2, 13, 1, 1))          # GlobalAveragePool output (SE block)
ONE = r(5, (1,))                    # PP-OCR's Mul(c[1], x)
SCALAR = np.array(6.0, np.float32)  # Div(x, 6.0)
BTC = r(6, (2, 17, 120))            # rec transformer [B, T, C]
C = r(7, (120,))                    # LayerNorm scale/bias pieces
BT1 = r(8, (2, 17, 1), positive=True)  # ReduceMean(keepdims) output
BIG = r(9, (1, 17, 90, 96))
BIGC = r(10, (1, 17, 1, 1))

CASES = []
for op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
    CASES += [
        Case(op, [NCHW, NCHW2], id="same-shape"),
        Case(op, [NCHW, CH], const_inputs=(1,), id="nchw-op-c11"),
        Case(op, [CH, NCHW], const_inputs=(0,), id="c11-op-nchw"),
        Case(op, [NCHW, NC11], id="nchw-op-nc11"),
        Case(op, [ONE, NCHW], const_inputs=(0,), id="one-op-nchw"),
        Case(op, [NCHW, SCALAR], const_inputs=(1,), id="nchw-op-scalar"),
        Case(op, [BTC, C], const_inputs=(1,), id="btc-op-c"),
        Case(op, [BTC, BT1], id="btc-op-bt1"),
        Case(op, [r(11, (2, 1, 7, 1)), r(12, (1, 13, 1, 9))], id="outer-product"),
        Case(op, [r(13, (3, 1)), r(14, (1, 5))], id="2d-outer"),
        Case(op, [BIG, BIGC], const_inputs=(1,), id="big-c11"),
        Case(op, [BIG, BIG * f32(0.5) + f32(1)], id="big-same"),
    ]
CASES += [
    Case("Pow", [BTC, np.array(2.0, np.float32)], const_inputs=(1,), id="square"),
    Case("Pow", [r(15, (2, 13, 7, 9), positive=True), np.array(0.5, np.float32)], const_inputs=(1,), id="sqrt"),
    Case("Pow", [r(16, (2, 3, 5), positive=True), r(17, (5,))], id="vec-exp"),
    Case("Pow", [f32(2.0) * np.ones((1,), np.float32), r(18, (3, 4))], const_inputs=(0,), id="scalar-base"),
    # 6-D with alternating broadcast: more dims than the kernel's 4-D box -> reference only.
    Case("Add", [r(19, (2, 1, 2, 1, 2, 1)), r(20, (1, 2, 1, 2, 1, 2))], id="6d-alternating"),
    # int64 shape arithmetic (folded at plan time): truncating division, negatives.
    Case("Div", [np.array([7, -7, 9], np.int64), np.array([2, 2, -4], np.int64)], id="int64-trunc"),
    Case("Mul", [np.array([1, 3, 5], np.int64), np.array(2, np.int64)], id="int64"),
    Case("Add", [np.array([1, 3, 5], np.int64), np.array([-1], np.int64)], id="int64"),
    Case("Sub", [np.array([1, 3, 5], np.int64), np.array([4], np.int64)], id="int64"),
    Case("Max", [np.array([1, 3, 5], np.int64), np.array([4], np.int64)], id="int64"),
    Case("Equal", [np.array([1, 3, 5], np.int64), np.array([3], np.int64)], id="int64"),
    Case("Less", [NCHW, CH], id="f32"),
    Case("Greater", [NCHW, CH], id="f32"),
    Case("LessOrEqual", [NCHW, NCHW2], id="f32"),
    Case("GreaterOrEqual", [NCHW, NCHW2], id="f32"),
    Case("And", [NCHW > 0, CH > 0], id="bool"),
    Case("Or", [NCHW > 0, CH > 0], id="bool"),
    Case("Xor", [NCHW > 0, CH > 0], id="bool"),
    Case("Not", [NCHW > 0], id="bool"),
    Case("Where", [NCHW > 0, NCHW, CH], id="f32"),
    # Fused activations on a binary node (residual Add + ReLU; Mul + Clip; Add + Sigmoid).
    Case("Add", [NCHW, NCHW2], {"activation": "relu"}, id="fused-relu"),
    Case("Mul", [NCHW, CH], {"activation": "clip", "activation_params": [-0.5, 0.5]}, const_inputs=(1,),
         id="fused-clip"),
    Case("Add", [BTC, C], {"activation": "sigmoid"}, const_inputs=(1,), id="fused-sigmoid"),
    Case("PRelu", [NCHW, CH], const_inputs=(1,), id="per-channel-slope"),
    Case("PRelu", [BTC, np.array([0.25], np.float32)], const_inputs=(1,), id="scalar-slope"),
    Case("Max", [NCHW, CH, NC11], id="variadic-3"),
    Case("Min", [NCHW], id="variadic-1"),
    # Sum: two float32 inputs take the Add kernel; one or three inputs (and Mean) the reference.
    Case("Sum", [NCHW, NCHW2], id="same-shape"),
    Case("Sum", [NCHW, CH], const_inputs=(1,), id="nchw-op-c11"),
    Case("Sum", [BIG, BIGC], const_inputs=(1,), id="big-c11"),
    Case("Sum", [NCHW], id="variadic-1"),
    Case("Sum", [NCHW, CH, NC11], id="variadic-3"),
    Case("Sum", [np.array([1, 3, 5], np.int64), np.array([4], np.int64), np.array(-2, np.int64)], id="int64"),
    Case("Mean", [NCHW], id="variadic-1"),
    Case("Mean", [NCHW, NCHW2], id="same-shape"),
    Case("Mean", [NCHW, CH, NC11], id="variadic-3"),
    Case("Mod", [np.array([7, -7, 7, -7], np.int64), np.array([3, 3, -3, -3], np.int64)], id="int-python-sign"),
    Case("Mod", [np.array([7.5, -7.5, 7.5], np.float32), np.array([2, 2, -2], np.float32)], {"fmod": 1}, id="fmod"),
]
