"""Layout ops on tile-breaking shapes, the rec model's 5-D transpose and shape-arithmetic chains (int64),
negative axes, negative/clamped Slice bounds and steps."""

import numpy as np

from tests.harness import Case, rng

X = rng(1).standard_normal((2, 13, 7, 9)).astype(np.float32)
Q = rng(2).standard_normal((2, 17, 3, 8, 15)).astype(np.float32)  # rec qkv [B, T, 3, heads, dim]
i64 = np.int64


def a(*v):
    return np.array(v, np.int64)


CASES = [
    Case("Reshape", [X, a(0, -1)], const_inputs=(1,), id="zero-minus1"),
    Case("Reshape", [X, a(2, 13, 63)], const_inputs=(1,), id="explicit"),
    Case("Reshape", [np.arange(6, dtype=np.int64), a(2, 3)], const_inputs=(1,), id="int64"),
    Case("Flatten", [X], {"axis": 1}, id="axis1"),
    # axis=-1 -> (2*13*7, 9): negative Flatten axes count from the rank (was rank + 1; ORT caught it).
    Case("Flatten", [X], {"axis": -1}, id="neg-axis"),
    Case("Flatten", [X], {"axis": 4}, id="axis-rank"),
    Case("Flatten", [X], {"axis": 0}, id="axis0"),
    Case("Squeeze", [X[:, :, :1], a(-2)], const_inputs=(1,), id="neg-axis-input"),
    Case("Squeeze", [X[:1, :, :1]], {"axes": [0, 2]}, id="attr"),
    Case("Squeeze", [X[:1, :, :1]], id="all-ones"),
    Case("Unsqueeze", [X, a(0, -1)], const_inputs=(1,), id="both-ends"),
    Case("Unsqueeze", [X], {"axes": [2]}, id="attr"),
    Case("Transpose", [X], {"perm": [0, 2, 3, 1]}, id="nchw-nhwc"),
    Case("Transpose", [X], {"perm": [0, 1, 3, 2]}, id="last-two"),
    Case("Transpose", [X], {}, id="reverse-default"),
    Case("Transpose", [Q], {"perm": [2, 0, 3, 1, 4]}, id="rec-5d"),
    Case("Transpose", [rng(3).standard_normal((2, 3, 1, 4, 5, 3)).astype(np.float32)],
         {"perm": [5, 3, 1, 0, 2, 4]}, id="6d"),
    Case("Transpose", [rng(4).standard_normal((17, 18)).astype(np.float32)], {"perm": [1, 0]}, id="2d"),
    Case("Concat", [X, X[:, :3] * 2, X[:, :1] - 1], {"axis": 1}, id="channels"),
    Case("Concat", [X, X[:, :, :2]], {"axis": -2}, id="neg-axis"),
    Case("Concat", [X[:1], X], {"axis": 0}, id="batch"),
    Case("Concat", [a(1), a(-1), a(3, 4)], {"axis": 0}, id="int64-shape"),
    Case("Split", [X, a(3, 10)], {"axis": 1}, const_inputs=(1,), n_outputs=2, id="sizes-input"),
    Case("Split", [X], {"axis": -1, "split": [4, 5]}, n_outputs=2, id="attr"),
    Case("Split", [X[:, :12]], {"axis": 1, "num_outputs": 3}, n_outputs=3, id="equal"),
    Case("Slice", [X, a(1), a(4), a(1), a(1)], const_inputs=(1, 2, 3, 4), id="channels"),
    Case("Slice", [X, a(-1, 0), a(-1000, 100), a(3, 1), a(-2, 3)], const_inputs=(1, 2, 3, 4), id="neg-steps-clamp"),
    Case("Slice", [X, a(0, 2), a(1, 100)], const_inputs=(1, 2), id="default-axes"),
    Case("Slice", [Q, a(1), a(2), a(2), a(1)], const_inputs=(1, 2, 3, 4), id="rec-qkv"),
    Case("Slice", [X, a(5), a(-100), a(-1), a(-1)], const_inputs=(1, 2, 3, 4), id="reverse-all"),
    Case("Slice", [a(1, 3, 48, 320), a(2), a(4), a(0), a(1)], const_inputs=(1, 2, 3, 4), id="int64-shape"),
    Case("Shape", [X], id="full"),
    Case("Shape", [X], {"start": 1, "end": -1}, id="start-end"),
    Case("Size", [X], id="size"),
    Case("Cast", [a(1, 2, 3)], {"to": 1}, id="to-f32"),
    Case("Cast", [X], {"to": 7}, id="to-i64"),
    Case("ConstantOfShape", [a(2, 3)], {"value": np.array([1.5], np.float32)}, const_inputs=(0,), id="f32"),
    Case("ConstantOfShape", [a(4)], {"value": np.array([7], np.int64)}, const_inputs=(0,), id="i64"),
    Case("Range", [np.array(1, i64), np.array(10, i64), np.array(3, i64)], const_inputs=(0, 1, 2), id="int"),
    Case("Range", [np.array(1.0, np.float32), np.array(0.0, np.float32), np.array(-0.25, np.float32)],
         const_inputs=(0, 1, 2), id="float-neg"),
    Case("Gather", [X, a(0, 12, -1)], {"axis": 1}, const_inputs=(1,), id="channels"),
    Case("Gather", [X, np.array(3, np.int64)], {"axis": -1}, const_inputs=(1,), id="scalar-index"),
    Case("Gather", [X, a(1, 0)], {}, const_inputs=(1,), id="batch"),
    Case("Gather", [a(1, 3, 48, 320), np.array(0, np.int64)], {}, const_inputs=(1,), id="int64-shape"),
    Case("Expand", [X[:, :, :1], a(2, 13, 5, 9)], const_inputs=(1,), id="middle"),
    Case("Expand", [np.float32(3) * np.ones((13, 1, 1), np.float32), a(2, 1, 7, 9)], const_inputs=(0, 1),
         id="const-rank-up"),
    Case("Tile", [X, a(1, 2, 1, 3)], const_inputs=(1,), id="tile"),
    Case("Pad", [X, a(0, 0, 1, 2, 0, 0, 3, 1)], const_inputs=(1,), id="spatial"),
    Case("Pad", [X, a(1, 2, 0, 0, 0, 1, 0, 1), np.array(-2.5, np.float32)], const_inputs=(1, 2), id="value"),
    Case("Pad", [X, a(0, 0, 2, 2, 0, 0, 2, 2)], {"mode": "reflect"}, const_inputs=(1,), id="reflect"),
    Case("Pad", [X, a(0, 0, 1, 3, 0, 0, 2, 0)], {"mode": "edge"}, const_inputs=(1,), id="edge"),
    # Exporters write ends = INT64_MAX for "to the end".
    Case("Slice", [X, a(2), a(np.iinfo(np.int64).max), a(-1), a(1)], const_inputs=(1, 2, 3, 4), id="int64-max-end"),
    Case("Pad", [X, a(0, -1, 2, 0, 0, 0, -3, 1)], const_inputs=(1,), id="negative-crops"),
    Case("Expand", [X, a(9)], const_inputs=(1,), id="shape-shorter-than-input"),
    Case("Concat", [X, X[:, :0], X[:, :2]], {"axis": 1}, id="empty-input"),
    Case("Cast", [np.array([-1.7, 0.0, 2.9], np.float32)], {"to": 9}, id="to-bool"),
    Case("Cast", [np.array([-1.7, 0.4, 2.9], np.float32)], {"to": 7}, id="truncates"),
    Case("DepthToSpace", [rng(5).standard_normal((2, 12, 3, 5)).astype(np.float32)], {"blocksize": 2, "mode": "DCR"},
         id="dcr"),
    # Exporters write ends = INT64_MAX for "to the end".
    Case("Slice", [X, a(2), a(np.iinfo(np.int64).max), a(-1), a(1)], const_inputs=(1, 2, 3, 4), id="int64-max-end"),
    Case("Pad", [X, a(0, -1, 2, 0, 0, 0, -3, 1)], const_inputs=(1,), id="negative-crops"),
    Case("Expand", [X, a(9)], const_inputs=(1,), id="shape-shorter-than-input"),
    Case("Concat", [X, X[:, :0], X[:, :2]], {"axis": 1}, id="empty-input"),
    Case("Cast", [np.array([-1.7, 0.0, 2.9], np.float32)], {"to": 9}, id="to-bool"),
    Case("Cast", [np.array([-1.7, 0.4, 2.9], np.float32)], {"to": 7}, id="truncates"),
    Case("DepthToSpace", [rng(5).standard_normal((2, 12, 3, 5)).astype(np.float32)], {"blocksize": 2, "mode": "CRD"},
         id="crd"),
    Case("SpaceToDepth", [rng(6).standard_normal((2, 3, 6, 9)).astype(np.float32)], {"blocksize": 3}, id="b3"),
    # CRD mode (opset 24) used to be run as DCR: test_spacetodepth_crd_mode_example gave a wrong answer.
    Case("SpaceToDepth", [rng(6).standard_normal((2, 3, 6, 9)).astype(np.float32)], {"blocksize": 3, "mode": "CRD"},
         id="b3-crd"),
    Case("GatherElements", [X, rng(7).integers(-13, 13, (2, 4, 7, 9))], {"axis": 1}, const_inputs=(1,), id="channels"),
    Case("NonZero", [np.array([[1, 0, 2], [0, 0, 3]], np.float32)], const_inputs=(0,), id="const"),
]
