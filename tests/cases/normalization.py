import numpy as np

from tests.harness import Case, rng


def r(seed, shape):
    return rng(seed).standard_normal(shape).astype(np.float32)


X4 = r(1, (2, 12, 7, 9)) * 2 + 0.5
WITH_ZERO_ROW = np.concatenate([r(2, (3, 5)), np.zeros((1, 5), np.float32)])

CASES = [
    # LLM block: constant [C] scale over the hidden axis.
    Case("RMSNormalization", [r(3, (2, 17, 120)) * 3, r(4, (120,))], {"epsilon": 1e-6}, const_inputs=(1,),
         id="btc-const"),
    # Run-time scale holding every normalised value: the numba path reads it as a view.
    Case("RMSNormalization", [X4, r(5, (12, 7, 9))], {"axis": 1}, id="axis1-runtime-scale"),
    # Run-time scale that broadcasts ([1, 9] over [7, 9]): only the reference applies.
    Case("RMSNormalization", [X4, r(6, (1, 9))], {"axis": -2, "epsilon": 0.1}, id="runtime-broadcast-scale"),
    Case("RMSNormalization", [r(7, (3, 13)), r(8, (1, 1))], {"axis": 0}, const_inputs=(1,), id="axis0-scalar-scale"),
    Case("GroupNormalization", [X4, r(9, (12,)), r(10, (12,))], {"num_groups": 3}, const_inputs=(1, 2),
         id="opset21-per-channel"),
    # Opset 18 held one scale/bias per group; told apart from opset 21 by the length.
    Case("GroupNormalization", [X4, r(11, (4,)), r(12, (4,))], {"num_groups": 4, "epsilon": 1e-2},
         id="opset18-per-group"),
    Case("GroupNormalization", [r(13, (2, 13, 17)), r(14, (13,)), r(15, (13,))], {"num_groups": 13},
         id="groups-equal-channels-3d"),
    Case("GroupNormalization", [r(16, (1, 6, 5, 4)), r(17, (6,)), r(18, (6,))], {"num_groups": 1}, id="one-group"),
    Case("LRN", [X4], {"size": 5}, id="defaults"),
    Case("LRN", [r(19, (2, 13, 17, 18))], {"size": 3, "alpha": 2e-3, "beta": 0.5, "bias": 2.0}, id="size3"),
    Case("LRN", [r(20, (1, 3, 7, 1))], {"size": 1, "alpha": 1.0, "beta": 1.0}, id="size1"),
    Case("LpNormalization", [r(21, (2, 3, 5))], {}, id="p2-last"),
    Case("LpNormalization", [WITH_ZERO_ROW], {"p": 1, "axis": 1}, id="p1-zero-row"),
    Case("LpNormalization", [r(22, (4, 3))], {"axis": 0}, id="axis0"),
    Case("MeanVarianceNormalization", [r(23, (2, 3, 4, 5)) * 3 + 1], {}, id="default-axes"),
    Case("MeanVarianceNormalization", [r(24, (3, 7, 2))], {"axes": [1]}, id="axes1"),
]
