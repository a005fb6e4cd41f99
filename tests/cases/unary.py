import numpy as np

from tests.harness import Case, rng

X = rng(1).standard_normal((2, 13, 7, 9)).astype(np.float32) * 3
POS = np.abs(rng(2).standard_normal((1, 17, 17, 18)).astype(np.float32)) + np.float32(0.1)
# Big enough that the parallel variants really split the buffer into several chunks.
BIG = rng(3).standard_normal((2, 3, 160, 171)).astype(np.float32) * 4
f32 = np.float32
# Inside (-1, 1), the domain of Asin, Acos and Atanh.
UNIT = rng(4).uniform(-0.99, 0.99, (3, 17, 19)).astype(np.float32)
SPECIAL = np.array([0.0, -1.5, np.inf, -np.inf, np.nan, 3.0e38, -0.0, np.nan], np.float32)

CASES = [
    Case("Relu", [X], id="odd"),
    Case("Relu", [rng(2).standard_normal((1, 1, 1, 1)).astype(np.float32)], id="scalar-like"),
    Case("Relu", [BIG], id="big"),
    # Clip: min/max as plan-time inputs (opset 11+), one bound omitted, opset-6 attributes, 3-D.
    Case("Clip", [X, f32(0.0), f32(6.0)], const_inputs=(1, 2), id="relu6"),
    Case("Clip", [X, f32(-1.5), None], const_inputs=(1,), id="min-only"),
    Case("Clip", [X, None, f32(0.25)], const_inputs=(2,), id="max-only"),
    Case("Clip", [X[0]], attrs={"min": -0.5, "max": 0.5}, id="attrs-3d"),
    Case("Clip", [np.arange(-5, 5, dtype=np.int64), np.int64(-2), np.int64(3)], const_inputs=(1, 2), id="int64"),
    Case("Sigmoid", [X], id="odd"),
    Case("Sigmoid", [BIG], id="big"),
    Case("HardSigmoid", [X], attrs={"alpha": 0.16666670143604279, "beta": 0.5}, id="ppocr"),
    Case("HardSigmoid", [X], id="defaults"),
    Case("HardSwish", [X], id="odd"),
    Case("HardSwish", [BIG], id="big"),
    Case("Tanh", [X], id="odd"),
    Case("Sqrt", [POS], id="pos"),
    Case("Exp", [X], id="odd"),
    Case("Log", [POS], id="pos"),
    Case("Neg", [X], id="odd"),
    Case("Neg", [np.array([3, -4], np.int64)], id="int64"),
    Case("Abs", [X], id="odd"),
    Case("Reciprocal", [POS], id="pos"),
    Case("Erf", [X], id="odd"),
    Case("Gelu", [X], id="erf"),
    Case("Gelu", [X], attrs={"approximate": "tanh"}, id="tanh"),
    Case("LeakyRelu", [X], attrs={"alpha": 0.1}, id="odd"),
    Case("Softplus", [X], id="odd"),
    Case("Identity", [X], id="odd"),
    # Exact halves: Round must go to even (0.5 -> 0, 1.5 -> 2, -2.5 -> -2).
    Case("Round", [np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 2.51], np.float32)], id="halves"),
    Case("Round", [X], id="odd"),
    Case("Floor", [X], id="odd"),
    Case("Ceil", [X], id="odd"),
    Case("Sign", [np.concatenate([X.ravel(), np.zeros(3, np.float32)])], id="with-zeros"),
    Case("Sin", [X], id="odd"),
    Case("Cos", [X], id="odd"),
    Case("Softsign", [X], id="odd"),
    Case("Mish", [X], id="odd"),
    Case("Elu", [X], {"alpha": 0.7}, id="alpha"),
    Case("Selu", [X], id="defaults"),
    Case("Celu", [X], id="defaults"),
    Case("Celu", [X], {"alpha": 2.0}, id="alpha"),
    Case("ThresholdedRelu", [X], id="defaults"),
    Case("ThresholdedRelu", [X], {"alpha": 2.0}, id="alpha"),
    Case("Shrink", [X], id="defaults"),
    Case("Shrink", [X], {"lambd": 1.5, "bias": 1.5}, id="soft"),
    # Shrink accepts integer tensors (numpy reference): bias 1 moves +-3 to +-2, zeroes |x| <= 2.
    Case("Shrink", [np.arange(-4, 5, dtype=np.int32)], {"lambd": 2.0, "bias": 1.0}, id="int32"),
    Case("Swish", [X], id="defaults"),
    Case("Swish", [X], {"alpha": 0.5}, id="alpha"),
    Case("Tan", [X * f32(0.4)], id="odd"),
    Case("Asin", [UNIT], id="unit"),
    Case("Acos", [UNIT], id="unit"),
    Case("Atan", [X], id="odd"),
    Case("Sinh", [X * f32(0.5)], id="odd"),
    Case("Cosh", [X * f32(0.5)], id="odd"),
    Case("Asinh", [X], id="odd"),
    Case("Acosh", [POS + f32(1.0)], id="above-1"),
    Case("Atanh", [UNIT], id="unit"),
    Case("IsNaN", [SPECIAL], id="special"),
    Case("IsInf", [SPECIAL], id="special"),
    Case("IsInf", [SPECIAL], {"detect_negative": 0}, id="positive"),
    Case("IsInf", [SPECIAL], {"detect_positive": 0}, id="negative"),
    Case("IsInf", [np.array([1.0, np.inf, -np.inf, np.nan, 65504.0], np.float16)], id="float16"),
    # Non-float32 dtypes take the numpy reference: the output keeps the input dtype.
    Case("Celu", [X.astype(np.float64)], {"alpha": 2.0}, id="float64"),
    Case("Relu", [np.arange(-3, 4, dtype=np.int8)], id="int8"),
]
