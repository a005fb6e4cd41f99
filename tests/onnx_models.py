"""Small ONNX models built in code, shared by tests that need a real file but not a real network."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def small_classifier(batch_dim="batch", size: int = 16):
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm on [batch_dim, 3, size, size]; batch_dim a name
    (symbolic) or an int (fixed)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((10, 8)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "W2"], ["y"], transB=1, name="fc")]
    g = helper.make_graph(nodes, "small",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, 3, size, size])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "W"), numpy_helper.from_array(w2, "W2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m
