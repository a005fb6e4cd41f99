"""Shape rules of the non-conv ops: incompatible shapes raise ShapeError naming the problem, and the rec
model's Shape -> Cast -> Slice -> Concat -> Reshape chain folds at plan time into a free Reshape view."""

import numpy as np
import pytest

import jitmnn
from jitmnn.errors import ShapeError
from jitmnn.graph import Graph, Node, TensorInfo
from jitmnn.ops import registry


def _infer(op, shapes, attrs=None, consts=None, n_out=1, dtypes=None):
    node = Node(f"{op}_t", op, [f"i{k}" for k in range(len(shapes))], [f"o{k}" for k in range(n_out)], attrs or {})
    consts = consts or [None] * len(shapes)
    dtypes = dtypes or [np.dtype(np.float32)] * len(shapes)
    return registry.get_op(op).infer(node, shapes, dtypes, consts)


i64 = np.int64

BAD = [
    # (op, input shapes, attrs, consts, words the message must contain)
    ("Add", [(2, 3, 4), (2, 5, 4)], {}, None, "do not broadcast"),
    ("Mul", [(1, 13, 7, 9), (1, 12, 1, 1)], {}, None, "do not broadcast"),
    ("Where", [(2, 3), (2, 3)], {}, None, "Where takes"),
    ("Concat", [(1, 3, 4), (1, 3, 5)], {"axis": 1}, None, "differ off the axis"),
    ("Concat", [(1, 3), (1, 3)], {"axis": 2}, None, "out of range"),
    ("Reshape", [(2, 3, 4), (2,)], {}, [None, np.array([5, -1], i64)], "cannot reshape"),
    ("Reshape", [(2, 3, 4), (2,)], {}, [None, np.array([-1, -1], i64)], "more than one -1"),
    ("Reshape", [(2, 3, 4), (2,)], {}, [None, None], "known at plan time"),
    ("Squeeze", [(2, 3, 1), (1,)], {}, [None, np.array([1], i64)], "not 1"),
    ("Transpose", [(2, 3, 4)], {"perm": [0, 0, 1]}, None, "not a permutation"),
    ("Softmax", [(2, 3)], {"axis": 2}, None, "out of range"),
    ("Split", [(2, 6)], {"axis": 1, "split": [2, 2]}, None, "do not cut"),
    ("Slice", [(4, 5), (1,), (1,), (1,), (1,)], {},
     [None, np.array([0], i64), np.array([2], i64), np.array([0], i64), np.array([0], i64)], "step"),
    ("MaxPool", [(1, 3, 4, 4)], {"kernel_shape": [5, 5]}, None, "larger than the padded input"),
    ("MaxPool", [(1, 3, 4, 4)], {"kernel_shape": [2]}, None, "does not match"),
    ("AveragePool", [(3, 4)], {"kernel_shape": [2]}, None, "rank >= 3"),
    ("GlobalAveragePool", [(3, 4)], {}, None, "rank >= 3"),
    ("Resize", [(1, 3, 4, 4), (0,), (3,)], {}, [None, np.zeros(0, np.float32), np.ones(3, np.float32)], "rank"),
    ("Resize", [(1, 3, 4, 4), (0,), (4,)], {"mode": "area"}, [None, None, np.ones(4, np.float32)], "mode"),
    ("Resize", [(1, 3, 4, 4), (3,), (4,)], {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"},
     [None, np.zeros(3, np.float32), np.ones(4, np.float32)], "roi has 3 values"),
    ("Resize", [(1, 3, 4, 4), (0,), (4,)], {"mode": "nearest", "antialias": 1}, [None, None, np.ones(4, np.float32)],
     "antialias"),
    ("ConvTranspose", [(1, 2, 3), (3, 1, 2)], {}, None, "do not fit"),
    ("BatchNormalization", [(1, 3, 4, 4), (4,), (3,), (3,), (3,)], {}, None, "scale"),
    ("LayerNormalization", [(2, 5, 6), (5,)], {}, None, "does not broadcast"),
    ("Pad", [(2, 3), (3,)], {}, [None, np.array([1, 1, 1], i64)], "2 values per padded axis"),
    ("Expand", [(2, 3), (2,)], {}, [None, np.array([4, 3], i64)], "do not broadcast"),
    ("Gather", [(5, 3), (2,)], {}, [None, np.array([0, 7], i64)], "out of range"),
]


@pytest.mark.parametrize("op,shapes,attrs,consts,words", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_incompatible_shapes_raise_shape_error(op, shapes, attrs, consts, words):
    with pytest.raises(ShapeError, match=words):
        _infer(op, shapes, attrs, consts)


def test_shape_chain_folds_and_reshape_is_a_view():
    """Shape -> Cast -> Slice -> Concat -> Reshape (as in PP-OCRv4 rec): everything but the data path
    is folded at plan time and the Reshape costs no copy."""
    nodes = [
        Node("shape", "Shape", ["x"], ["s"]),
        Node("cast", "Cast", ["s"], ["s32"], {"to": 6}),
        Node("cast2", "Cast", ["s32"], ["s64"], {"to": 7}),
        Node("slice", "Slice", ["s64", "st", "en", "ax"], ["nc"]),
        Node("concat", "Concat", ["nc", "minus1"], ["spec"], {"axis": 0}),
        Node("relu", "Relu", ["x"], ["y"]),
        Node("reshape", "Reshape", ["y", "spec"], ["z"]),
        Node("soft", "Softmax", ["z"], ["out"], {"axis": -1}),
    ]
    consts = {"st": np.array([0], i64), "en": np.array([2], i64), "ax": np.array([0], i64),
              "minus1": np.array([-1], i64)}
    g = Graph("chain", nodes, [TensorInfo("x", (None, 3, None, None))], ["out"], consts)
    m = jitmnn.from_graph(g)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)
    out = m.run({"x": x})["out"]
    y = np.maximum(x, 0).reshape(2, 3, 35)
    e = np.exp(y - y.max(-1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    plan = m._last_plan()
    ran = {s.node.op: s.algorithm for s in plan.steps}
    assert ran == {"Relu": "numba", "Reshape": "view", "Softmax": "numba"}, ran
    # A new input shape re-folds the chain.
    x2 = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)
    assert m.run({"x": x2})["out"].shape == (1, 3, 16)
