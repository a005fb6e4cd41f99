"""Every Resize mode: the det model's nearest/asymmetric/floor x2, x4, x8 by scales; half_pixel,
align_corners, pytorch_half_pixel, tf_half_pixel_for_nn; linear up and down; sizes instead of scales."""

import numpy as np

from tests.harness import Case, rng

X = rng(1).standard_normal((2, 13, 7, 9)).astype(np.float32)
EMPTY = np.zeros(0, np.float32)


def sc(*v):
    return np.array(v, np.float32)


def sz(*v):
    return np.array(v, np.int64)


CASES = []
for s in (2.0, 4.0, 8.0):
    CASES.append(Case("Resize", [X, EMPTY, sc(1, 1, s, s)],
                      {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
                      const_inputs=(1, 2), id=f"det-x{int(s)}"))
for ctm in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
            "half_pixel_symmetric"):
    for nm in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        CASES.append(Case("Resize", [X, EMPTY, sc(1, 1, 1.5, 2.5)],
                          {"mode": "nearest", "coordinate_transformation_mode": ctm, "nearest_mode": nm},
                          const_inputs=(1, 2), id=f"nearest-{ctm}-{nm}-up"))
    CASES.append(Case("Resize", [X, EMPTY, sc(1, 1, 2, 2)],
                      {"mode": "linear", "coordinate_transformation_mode": ctm}, const_inputs=(1, 2),
                      id=f"linear-{ctm}-x2"))
    CASES.append(Case("Resize", [X, EMPTY, None, sz(2, 13, 17, 4)],
                      {"mode": "linear", "coordinate_transformation_mode": ctm}, const_inputs=(1, 3),
                      id=f"linear-{ctm}-sizes"))
    CASES.append(Case("Resize", [X, EMPTY, None, sz(2, 13, 3, 20)],
                      {"mode": "nearest", "coordinate_transformation_mode": ctm}, const_inputs=(1, 3),
                      id=f"nearest-{ctm}-sizes"))
CASES += [
    Case("Resize", [X, EMPTY, sc(1, 1, 0.5, 0.5)], {"mode": "linear"}, const_inputs=(1, 2), id="linear-down"),
    # opset 18 `axes`: scales/sizes for H, W only (negative axes).
    Case("Resize", [X, EMPTY, sc(2, 3)], {"mode": "nearest", "axes": [-2, -1]}, const_inputs=(1, 2), id="axes-scales"),
    Case("Resize", [X, EMPTY, None, sz(11, 5)], {"mode": "linear", "axes": [2, 3]}, const_inputs=(1, 3),
         id="axes-sizes"),
    # Non-integer scale whose output size is not scale * input: half_pixel_symmetric re-centres.
    Case("Resize", [X, EMPTY, sc(1, 1, 1.7, 0.6)], {"mode": "linear", "coordinate_transformation_mode":
         "half_pixel_symmetric"}, const_inputs=(1, 2), id="linear-symmetric-fractional"),
    Case("Resize", [X, EMPTY, sc(1, 1, 1, 1)], {"mode": "nearest"}, const_inputs=(1, 2), id="identity"),
    Case("Resize", [X[:, :, :1, :1], EMPTY, sc(1, 1, 3, 3)], {"mode": "linear",
         "coordinate_transformation_mode": "align_corners"}, const_inputs=(1, 2), id="1x1-align"),
]
