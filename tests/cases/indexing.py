import numpy as np

from tests.harness import Case, rng

X = rng(31).standard_normal((3, 5, 4)).astype(np.float32)


def _distinct_rows(seed, shape, high, axis):
    """Indices along `axis` with no repeats within a line (so 'none' has one right answer)."""
    r = rng(seed)
    idx = np.argsort(r.random(shape[:axis] + (high,) + shape[axis + 1:]), axis=axis)
    return np.take(idx, np.arange(shape[axis]), axis=axis).astype(np.int64)


SE_IDX = _distinct_rows(32, (3, 2, 4), 5, 1) - 5 * (rng(33).random((3, 2, 4)) < 0.3)  # some negative
SE_UPD = rng(34).standard_normal((3, 2, 4)).astype(np.float32)
DUP_IDX = rng(35).integers(-5, 5, (3, 6, 4)).astype(np.int64)  # repeats: reductions accumulate
DUP_UPD = (rng(36).random((3, 6, 4)) + 0.5).astype(np.float32)

ND_DATA = rng(37).standard_normal((4, 5, 6)).astype(np.float32)
ND_ROWS = np.array([[3], [-4], [1]], np.int64)  # distinct rows (-4 is row 0)
ND_PAIRS = np.array([[[0, 1], [3, -1], [2, 2]], [[1, 0], [0, 0], [3, 4]]], np.int64)  # distinct (i, j)
ND_DUP = np.array([[1, 2], [1, 2], [0, 4], [1, 2]], np.int64)  # (1, 2) three times

TOPK_X = rng(38).standard_normal((3, 17, 5)).astype(np.float32)
TIES = rng(39).integers(0, 4, (4, 9)).astype(np.float32)  # many equal values: lower index first

CASES = [
    Case("ScatterElements", [X, SE_IDX, SE_UPD], {"axis": 1}, id="axis1-negative"),
    Case("ScatterElements", [X, DUP_IDX[:, :3], DUP_UPD[:, :3]], {"axis": 1, "reduction": "add"}, id="add-dups"),
    Case("ScatterElements", [X, DUP_IDX[:, :3], DUP_UPD[:, :3]], {"axis": 1, "reduction": "mul"}, id="mul"),
    Case("ScatterElements", [X, DUP_IDX[:, :3], DUP_UPD[:, :3]], {"axis": 1, "reduction": "max"}, id="max"),
    Case("ScatterElements", [X, DUP_IDX[:, :3], DUP_UPD[:, :3]], {"axis": -2, "reduction": "min"}, id="min"),
    Case("ScatterElements", [X, _distinct_rows(40, (2, 5, 4), 3, 0), SE_UPD[:2, :, :].repeat(3, 1)[:, :5]],
         {}, id="axis0"),
    Case("Scatter", [X, SE_IDX, SE_UPD], {"axis": 1}, id="opset9"),
    Case("ScatterND", [ND_DATA, ND_ROWS, rng(41).standard_normal((3, 5, 6)).astype(np.float32)], id="rows"),
    Case("ScatterND", [ND_DATA, ND_PAIRS, rng(42).standard_normal((2, 3, 6)).astype(np.float32)], id="pairs"),
    Case("ScatterND", [ND_DATA, ND_DUP, rng(43).standard_normal((4, 6)).astype(np.float32)], {"reduction": "add"},
         id="add-dups"),
    Case("ScatterND", [ND_DATA, ND_DUP, rng(44).standard_normal((4, 6)).astype(np.float32)], {"reduction": "mul"},
         id="mul"),
    Case("ScatterND", [ND_DATA, ND_DUP, rng(45).standard_normal((4, 6)).astype(np.float32)], {"reduction": "max"},
         id="max"),
    Case("ScatterND", [ND_DATA, np.array([[1, 2, 3], [0, 0, -1]], np.int64), np.float32([7, -7])],
         {"reduction": "min"}, id="elements-min"),
    Case("GatherND", [ND_DATA, ND_PAIRS], id="pairs"),
    Case("GatherND", [ND_DATA, np.array([[1, 2, 3], [-1, 0, 5]], np.int64)], id="elements"),
    Case("GatherND", [ND_DATA, np.array([[[2], [0]], [[4], [4]], [[-1], [1]], [[3], [2]]], np.int64)],
         {"batch_dims": 1}, id="batch1"),
    Case("GatherND", [ND_DATA.astype(np.int64), ND_ROWS], id="int64"),
    Case("TopK", [TOPK_X, np.array([4], np.int64)], {"axis": 1}, const_inputs=(1,), id="middle"),
    Case("TopK", [TOPK_X, np.array([3], np.int64)], {"axis": -1, "largest": 0}, const_inputs=(1,), id="smallest"),
    Case("TopK", [TIES, np.array([6], np.int64)], {}, const_inputs=(1,), id="ties"),
    Case("TopK", [TIES, np.array([9], np.int64)], {"largest": 0}, const_inputs=(1,), id="ties-all-smallest"),
    Case("TopK", [TOPK_X, np.array([1], np.int64)], {"axis": 0}, const_inputs=(1,), id="k1-first-axis"),
    Case("TopK", [TIES.astype(np.int64), np.array([2], np.int64)], {"axis": 0}, const_inputs=(1,), id="int64"),
    Case("OneHot", [np.array([[0, 6, -1], [9, -8, 3]], np.int64), np.array(7, np.int64), np.float32([0.5, 2])],
         {}, const_inputs=(1,), id="last-axis-out-of-range"),
    Case("OneHot", [np.array([1.7, 4.2, 0.0], np.float32), np.array([5.0], np.float32), np.int32([0, 3])],
         {"axis": 0}, const_inputs=(1,), id="float-indices-axis0"),
    Case("ReverseSequence", [rng(46).standard_normal((5, 3, 2)).astype(np.float32), np.array([5, 1, 3], np.int64)],
         {"time_axis": 0, "batch_axis": 1}, id="time-major"),
    Case("ReverseSequence", [rng(47).standard_normal((3, 4)).astype(np.float32), np.array([0, 4, 2], np.int64)],
         {"time_axis": 1, "batch_axis": 0}, id="batch-major"),
    Case("CenterCropPad", [rng(48).standard_normal((7, 6, 3)).astype(np.float32), np.array([4, 9], np.int64)],
         {"axes": [0, 1]}, const_inputs=(1,), id="crop-and-pad"),
    Case("CenterCropPad", [rng(49).standard_normal((2, 5, 4)).astype(np.float32), np.array([3, 2, 7], np.int64)],
         {}, const_inputs=(1,), id="all-axes"),
    Case("Compress", [X, np.array([True, False, True], bool)], {"axis": 0}, const_inputs=(0, 1), id="axis0"),
    Case("Compress", [X, np.array([0, 1, 1, 0, 1], bool)], {"axis": -2}, const_inputs=(0, 1), id="negative-axis"),
    Case("Compress", [X, np.array([1, 0, 0, 1, 1, 0, 1], bool)], {}, const_inputs=(0, 1), id="flat-short"),
    Case("Unique", [np.array([2, 1, 1, 3, 4, 3, 1], np.float32)], {}, const_inputs=(0,), n_outputs=4, id="sorted"),
    Case("Unique", [np.array([2, 1, 1, 3, 4, 3, 1], np.float32)], {"sorted": 0}, const_inputs=(0,), n_outputs=4,
         id="first-occurrence"),
    Case("Unique", [np.array([[[1, 0], [1, 1], [1, 0], [0, 2]], [[2, 2], [0, 3], [2, 2], [1, 1]]], np.float32)],
         {"axis": 1}, const_inputs=(0,), n_outputs=4, id="axis1"),
]
