"""Rules of the indexing / detection ops that the registry-driven equivalence test does not cover: the
data-dependent shape convention, typed errors for bad run-time indices, and the NMS kernel path that the
run-time (segmented) planner can call instead of the numpy reference."""

import numpy as np
import pytest

from jitmnn.errors import InputError
from jitmnn.graph import Node
from jitmnn.ops import registry
from jitmnn.ops.detection import _ref_nms, nms_fast
from tests.harness import Case, rng, run_case


def _infer(op, inputs, attrs=None, known=()):
    node = Node(f"{op}_t", op, [f"in{i}" for i in range(len(inputs))], ["out0", "out1", "out2", "out3"],
                dict(attrs or {}))
    consts = [np.asarray(a) if i in known else None for i, a in enumerate(inputs)]
    return registry.get_op(op).infer(node, [np.shape(a) for a in inputs], [np.asarray(a).dtype for a in inputs],
                                     consts)


DATA_DEPENDENT = [
    ("NonZero", [np.array([[1, 0], [0, 2]], np.float32)], {}, ((2, 2),)),
    ("Compress", [np.ones((3, 2), np.float32), np.array([1, 0, 1], bool)], {"axis": 0}, ((2, 2),)),
    ("Unique", [np.array([3, 1, 3, 2], np.float32)], {}, ((3,), (3,), (4,), (3,))),
    ("NonMaxSuppression", [np.array([[[0, 0, 1, 1], [0, 0, 1, 1.1]]], np.float32), np.float32([[[0.9, 0.8]]]),
                           np.array([5], np.int64), np.float32([0.5])], {}, ((1, 3),)),
]


@pytest.mark.parametrize("op,inputs,attrs,shapes", DATA_DEPENDENT, ids=[c[0] for c in DATA_DEPENDENT])
def test_data_dependent_shape_needs_values(op, inputs, attrs, shapes):
    assert registry.get_op(op).data_dependent
    with pytest.raises(registry.RunTimeValuesNeeded):
        _infer(op, inputs, attrs)
    got = _infer(op, inputs, attrs, known=range(len(inputs)))
    assert [tuple(s) for s, _ in got[:len(shapes)]] == list(shapes)


def test_topk_k_fed_at_run_time_is_a_plan_time_value():
    with pytest.raises(registry.PlanTimeValueNeeded):
        _infer("TopK", [np.zeros((2, 5), np.float32), np.array([2], np.int64)])


@pytest.mark.parametrize("algorithm", ["numba", "reference"])
@pytest.mark.parametrize("case", [
    Case("ScatterND", [np.zeros((3, 4), np.float32), np.array([[3]], np.int64), np.ones((1, 4), np.float32)]),
    Case("GatherND", [np.zeros((3, 4), np.float32), np.array([[1, -5]], np.int64)]),
    Case("RoiAlign", [np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 4), np.float32), np.array([1], np.int64)],
         {"output_height": 2, "output_width": 2}),
], ids=["ScatterND", "GatherND", "RoiAlign"])
def test_out_of_range_index_is_a_typed_error(case, algorithm):
    with pytest.raises(InputError, match=case.op):
        run_case(case, algorithm)


@pytest.mark.parametrize("seed", range(6))
def test_nms_kernel_matches_reference(seed):
    r = rng(100 + seed)
    b, c, n = 2, 3, 40
    lo = r.uniform(0, 10, (b, n, 2))
    boxes = np.concatenate([lo, lo + r.uniform(0.5, 4, (b, n, 2))], -1).astype(np.float32)
    boxes[:, :5] = boxes[:, 5:10]  # duplicated boxes: IoU exactly 1
    scores = np.round(r.random((b, c, n)), 1).astype(np.float32)  # many equal scores: index order decides
    node = Node("nms", "NonMaxSuppression", ["b", "s", "m", "i", "t"], ["o"], {"center_point_box": seed % 2})
    for inputs in ([boxes, scores, np.array([7], np.int64), np.float32([0.4]), np.float32([0.25])],
                   [boxes, scores, np.array([100], np.int64), np.float32([1.0])],
                   [boxes, scores]):  # no max_output_boxes_per_class: nothing is selected
        inputs = inputs + [None] * (5 - len(inputs))
        want = _ref_nms(node, inputs)[0]
        got = nms_fast(node, inputs)[0]
        np.testing.assert_array_equal(got, want)
