import numpy as np

from tests.harness import Case, rng


def _boxes(seed, b, n, center=False):
    r = rng(seed)
    lo = r.uniform(0, 8, (b, n, 2))
    size = r.uniform(1, 5, (b, n, 2))
    if center:
        return np.concatenate([lo + size / 2, size], -1).astype(np.float32)
    corners = np.concatenate([lo, lo + size], -1)
    flip = r.random((b, n)) < 0.3  # some boxes given with their corners swapped
    corners[flip] = corners[flip][:, [2, 3, 0, 1]]
    return corners.astype(np.float32)


def _nms_case(seed, center, max_out, iou, score, id_):
    boxes = _boxes(seed, 2, 17, center)
    scores = rng(seed + 1).random((2, 3, 17)).astype(np.float32)
    ins = [boxes, scores, np.array([max_out], np.int64), np.float32([iou])]
    if score is not None:
        ins.append(np.float32([score]))
    return Case("NonMaxSuppression", ins, {"center_point_box": int(center)}, const_inputs=tuple(range(len(ins))),
                id=id_)


FMAP = rng(71).standard_normal((2, 3, 11, 13)).astype(np.float32)
ROIS = np.array([[1.0, 2.0, 9.5, 7.0], [0.0, 0.0, 12.0, 10.0], [5.2, 3.1, 6.0, 4.0], [-2.0, 8.0, 3.0, 14.0],
                 [11.0, 9.0, 15.0, 12.0]], np.float32)
BIDX = np.array([0, 1, 1, 0, 1], np.int64)
IMG4 = rng(72).standard_normal((2, 3, 7, 9)).astype(np.float32)
GRID4 = rng(73).uniform(-1.2, 1.2, (2, 5, 6, 2)).astype(np.float32)
GRID4_FAR = rng(74).uniform(-2.7, 2.7, (2, 5, 6, 2)).astype(np.float32)  # reflected more than once
IMG5 = rng(75).standard_normal((1, 2, 4, 5, 6)).astype(np.float32)
GRID5 = rng(76).uniform(-1.3, 1.3, (1, 3, 4, 2, 3)).astype(np.float32)


def _gs(img, grid, mode, pad, align, id_):
    return Case("GridSample", [img, grid], {"mode": mode, "padding_mode": pad, "align_corners": align}, id=id_)


CASES = [
    _nms_case(80, False, 5, 0.5, 0.3, "corners-score-threshold"),
    _nms_case(82, True, 100, 0.3, None, "center-no-threshold"),
    _nms_case(84, False, 2, 0.0, 0.1, "iou0-limit2"),
    Case("RoiAlign", [FMAP, ROIS, BIDX], {"output_height": 3, "output_width": 4, "sampling_ratio": 2}, id="avg"),
    Case("RoiAlign", [FMAP, ROIS * 2, BIDX], {"output_height": 2, "output_width": 3, "spatial_scale": 0.5,
                                             "coordinate_transformation_mode": "output_half_pixel", "mode": "max"},
         id="max-adaptive-legacy"),
    Case("RoiAlign", [FMAP, ROIS, BIDX], {"output_height": 4, "output_width": 2}, id="avg-adaptive"),
    Case("MaxRoiPool", [FMAP, np.concatenate([BIDX[:, None].astype(np.float32), ROIS * 2], 1)],
         {"pooled_shape": [3, 2], "spatial_scale": 0.5}, id="scaled"),
    _gs(IMG4, GRID4, "linear", "zeros", 0, "linear-zeros"),
    _gs(IMG4, GRID4, "bilinear", "border", 1, "bilinear-border-align"),
    _gs(IMG4, GRID4_FAR, "linear", "reflection", 0, "linear-reflection"),
    _gs(IMG4, GRID4_FAR, "linear", "reflection", 1, "linear-reflection-align"),
    _gs(IMG4, GRID4, "nearest", "zeros", 0, "nearest-zeros"),
    _gs(IMG4, GRID4_FAR, "nearest", "reflection", 1, "nearest-reflection-align"),
    _gs(IMG4, GRID4, "cubic", "zeros", 0, "cubic-zeros"),
    _gs(IMG4, GRID4, "bicubic", "border", 1, "bicubic-border-align"),
    _gs(IMG4, GRID4_FAR, "cubic", "reflection", 0, "cubic-reflection"),
    _gs(IMG5, GRID5, "linear", "zeros", 1, "3d-linear"),
    _gs(IMG5, GRID5, "nearest", "border", 0, "3d-nearest-border"),
    _gs(IMG5, GRID5, "linear", "reflection", 0, "3d-linear-reflection"),
]
