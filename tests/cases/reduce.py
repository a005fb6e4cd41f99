import numpy as np

from tests.harness import Case, rng

X = rng(1).standard_normal((2, 13, 7, 9)).astype(np.float32)
BTC = rng(2).standard_normal((2, 17, 120)).astype(np.float32) + np.float32(3)

CASES = [
    Case("ReduceMean", [BTC], {"axes": [-1]}, id="rec-last-keep"),
    Case("ReduceMean", [BTC], {"axes": [-1], "keepdims": 0}, id="last-nokeep"),
    Case("ReduceMean", [X], {"axes": [2, 3]}, id="spatial"),
    Case("ReduceMean", [X], {"axes": [1]}, id="channel"),
    Case("ReduceMean", [X], {"axes": [0, 2]}, id="non-contiguous"),
    Case("ReduceMean", [X], {}, id="all"),
    Case("ReduceMean", [X], {"keepdims": 0}, id="all-to-scalar"),
    Case("ReduceSum", [X], {"axes": [1], "keepdims": 0}, id="attr"),
    Case("ReduceSum", [X, np.array([-2, -1], np.int64)], {}, const_inputs=(1,), id="axes-input"),
    Case("ReduceMax", [X], {"axes": [3]}, id="last"),
    Case("ReduceMax", [X], {"axes": [1, 2]}, id="middle"),
    Case("ReduceMin", [X], {"axes": [0]}, id="first"),
    Case("ReduceMin", [np.array([[3, 1], [2, 5]], np.int64)], {"axes": [1]}, id="int64"),
    Case("ReduceProd", [X[:, :3, :2] * 0.5 + 1], {"axes": [1]}, id="channels"),
    Case("ReduceL1", [X], {"axes": [2, 3], "keepdims": 0}, id="spatial"),
    Case("ReduceL2", [X], {"axes": [-1]}, id="last"),
    Case("ReduceSumSquare", [X], {"axes": [0]}, id="first"),
    Case("ReduceLogSumExp", [X], {"axes": [1]}, id="channels"),
    Case("ReduceLogSum", [np.abs(X) + 0.1], {"axes": [1]}, id="channels"),
    Case("ReduceSum", [X, np.array([0, 2], np.int64)], {"keepdims": 0}, const_inputs=(1,), id="axes-input"),
    Case("ArgMax", [X], {"axis": 1}, id="channels"),
    Case("ArgMax", [np.array([[1, 3, 3, 0]], np.float32)], {"axis": -1, "keepdims": 0, "select_last_index": 1},
         id="ties-last"),
    Case("ArgMin", [X], {"axis": -1, "keepdims": 0}, id="last"),
    Case("CumSum", [X, np.array(1, np.int64)], {}, const_inputs=(1,), id="channels"),
    Case("CumSum", [X, np.array(-1, np.int64)], {"exclusive": 1, "reverse": 1}, const_inputs=(1,),
         id="exclusive-reverse"),
]
