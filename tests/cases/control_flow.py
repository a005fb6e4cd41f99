"""If / Loop / Scan with bodies that read outer values; every input known, as the planner folds them (a
run-time one makes the node a data-dependent plan segment, tested in tests/test_model_patterns.py)."""

import base64

import numpy as np
from onnx import TensorProto, helper

from tests.harness import Case, rng

X = rng(1).standard_normal((3, 4)).astype(np.float32)


def _b64(graph) -> str:
    return base64.b64encode(graph.SerializeToString()).decode()


def _vi(name, elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


# If: then = x * 2, else = x - 1; x is an outer value.
_THEN = helper.make_graph([helper.make_node("Add", ["x", "x"], ["t"])], "then", [], [_vi("t")])
_ELSE = helper.make_graph([helper.make_node("Sub", ["x", "one"], ["e"])], "else", [], [_vi("e")],
                          [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
_IF = {"then_branch": _b64(_THEN), "else_branch": _b64(_ELSE), "n_inputs": 1, "outer_inputs": ["x"], "opset": 13}

# Loop: y accumulates x[i] over M iterations and scans every partial sum.
_LOOP_BODY = helper.make_graph(
    [helper.make_node("Gather", ["x", "i"], ["row"], axis=0), helper.make_node("Add", ["y_in", "row"], ["y_out"]),
     helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["y_out"], ["scan"])],
    "loop_body", [_vi("i", TensorProto.INT64, []), _vi("cond", TensorProto.BOOL, []), _vi("y_in")],
    [_vi("cond_out", TensorProto.BOOL, []), _vi("y_out"), _vi("scan")])
_LOOP = {"body": _b64(_LOOP_BODY), "n_inputs": 3, "outer_inputs": ["x"], "opset": 13}

# Scan (opset 9+): running sum over the rows, one scan output per row.
_SCAN_BODY = helper.make_graph(
    [helper.make_node("Add", ["s_in", "a"], ["s_out"]), helper.make_node("Mul", ["s_out", "b"], ["o"])],
    "scan_body", [_vi("s_in"), _vi("a"), _vi("b")], [_vi("s_out"), _vi("o")])
_SCAN = {"body": _b64(_SCAN_BODY), "num_scan_inputs": 2, "n_inputs": 3,
         "outer_inputs": [], "opset": 16}

CASES = [
    Case("If", [np.array(True), X], _IF, const_inputs=(0, 1), id="then"),
    Case("If", [np.array(False), X], _IF, const_inputs=(0, 1), id="else"),
    Case("Loop", [np.array(3, np.int64), np.array(True), np.zeros(4, np.float32), X], _LOOP,
         const_inputs=(0, 1, 2, 3), id="accumulate-rows", n_outputs=2),
    Case("Scan", [np.zeros(4, np.float32), X, X * 0.5], _SCAN, const_inputs=(0, 1, 2), id="running-sum",
         n_outputs=2),
]
