import numpy as np

from tests.harness import Case, rng

M = rng(51).integers(-9, 9, (4, 5)).astype(np.int64)

CASES = [
    Case("Trilu", [M], {}, id="upper"),
    Case("Trilu", [M, np.array(-1, np.int64)], {}, id="upper-k-1"),
    Case("Trilu", [rng(52).standard_normal((2, 3, 4)).astype(np.float32), np.array(1, np.int64)], {"upper": 0},
         id="lower-batched-k1"),
    Case("EyeLike", [np.zeros((4, 6), np.int32)], {"k": 2, "dtype": 1}, id="k2-float"),
    Case("EyeLike", [np.zeros((5, 3), np.float32)], {"k": -1}, id="k-1"),
    Case("Einsum", [rng(53).standard_normal((3, 2, 4)), rng(54).standard_normal((3, 4, 5))],
         {"equation": "bij, bjk -> bik"}, id="batch-matmul"),
    Case("Einsum", [rng(55).standard_normal((4, 4)).astype(np.float32)], {"equation": "ii->i"}, id="diagonal"),
    Case("Einsum", [rng(56).standard_normal((2, 3)).astype(np.float32), rng(57).standard_normal((3, 4)).astype(np.float32)],
         {"equation": "ij,jk"}, id="implicit"),
    Case("Einsum", [rng(58).standard_normal((3, 4))], {"equation": "ij->"}, id="total"),
    Case("Det", [rng(59).standard_normal((3, 4, 4)).astype(np.float32)], id="batched"),
    Case("Det", [np.array([[2, 1], [4, 2]], np.float32)], id="singular"),
    Case("CumProd", [(rng(60).random((3, 4)) + 0.5).astype(np.float32), np.array(1, np.int64)], {},
         const_inputs=(1,), id="axis1"),
    Case("CumProd", [(rng(61).random((3, 4, 2)) + 0.5).astype(np.float32), np.array(-2, np.int32)],
         {"exclusive": 1, "reverse": 1}, id="exclusive-reverse-runtime-axis"),
    Case("CumProd", [rng(62).integers(-3, 4, (2, 5)).astype(np.int32), np.array(1, np.int32)], {"exclusive": 1},
         const_inputs=(1,), id="int32"),
    Case("Col2Im", [rng(63).standard_normal((2, 2 * 2 * 3, 9)).astype(np.float32), np.array([5, 6], np.int64),
                    np.array([2, 3], np.int64)], {"strides": [2, 1], "pads": [1, 0, 0, 1], "dilations": [1, 2]},
         const_inputs=(1, 2), id="strided-padded-dilated"),
    Case("Col2Im", [rng(64).standard_normal((1, 2 * 2 * 2 * 2, 2 * 3 * 4)).astype(np.float32),
                    np.array([3, 4, 5], np.int64), np.array([2, 2, 2], np.int64)], {}, const_inputs=(1, 2), id="3d"),
]
