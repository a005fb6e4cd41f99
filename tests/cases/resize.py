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

# Cubic (Keys, cubic_coeff_a), antialias, tf_crop_and_resize, keep_aspect_ratio_policy: the general taps kernel.
Y = rng(2).standard_normal((1, 3, 8, 10)).astype(np.float32)


def roi(*v):
    return np.array(v, np.float32)


CASES += [
    Case("Resize", [Y, EMPTY, sc(1, 1, 2, 1.5)], {"mode": "cubic"}, const_inputs=(1, 2), id="cubic-up"),
    Case("Resize", [Y, EMPTY, sc(1, 1, 0.6, 0.8)], {"mode": "cubic"}, const_inputs=(1, 2), id="cubic-down"),
    # 10 * 0.7 is 6.9999999 in float64 but 7 in float32, where ORT and ONNX's reference compute it
    Case("Resize", [Y, EMPTY, sc(1, 1, 1.7, 0.7)], {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1},
         const_inputs=(1, 2), id="cubic-a05-exclude-outside"),
    Case("Resize", [Y, EMPTY, None, sz(1, 3, 5, 13)], {"mode": "cubic", "coordinate_transformation_mode":
         "align_corners"}, const_inputs=(1, 3), id="cubic-align-sizes"),
    Case("Resize", [Y, EMPTY, sc(1, 1, 2, 2)], {"mode": "cubic", "coordinate_transformation_mode": "asymmetric"},
         const_inputs=(1, 2), id="cubic-asymmetric"),
    # antialias: the filter widens by 1/scale when downsampling (and is plain linear / cubic when upsampling)
    Case("Resize", [Y, EMPTY, sc(1, 1, 0.6, 0.35)], {"mode": "linear", "antialias": 1}, const_inputs=(1, 2),
         id="linear-antialias-down"),
    Case("Resize", [Y, EMPTY, None, sz(1, 3, 3, 4)], {"mode": "cubic", "antialias": 1}, const_inputs=(1, 3),
         id="cubic-antialias-sizes"),
    Case("Resize", [Y, EMPTY, sc(1, 1, 0.5, 1.5)], {"mode": "cubic", "antialias": 1, "exclude_outside": 1},
         const_inputs=(1, 2), id="cubic-antialias-down-up-exclude"),
    # tf_crop_and_resize: roi crops in normalised coordinates; outputs outside the input get extrapolation_value
    Case("Resize", [Y, roi(0, 0, 0.2, 0.3, 1, 1, 0.7, 0.9), None, sz(1, 3, 4, 5)],
         {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, const_inputs=(1, 3),
         id="tf-crop-linear"),
    Case("Resize", [Y, roi(0, 0, -0.23, 0.37, 1, 1, 1.31, 1.63), None, sz(1, 3, 6, 5)],
         {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 10.0},
         const_inputs=(1, 3), id="tf-crop-extrapolate"),
    Case("Resize", [Y, roi(0.1, 0.2, 0.9, 1.2), None, sz(5, 1)],
         {"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize", "axes": [3, 2],
          "extrapolation_value": -1.0}, const_inputs=(1, 3), id="tf-crop-nearest-axes"),
    Case("Resize", [Y, roi(0, 0, 0.25, 0.1, 1, 1, 0.75, 0.8), sc(1, 1, 0.5, 0.5)],
         {"mode": "cubic", "coordinate_transformation_mode": "tf_crop_and_resize"}, const_inputs=(1, 2),
         id="tf-crop-cubic-scales"),
    # keep_aspect_ratio_policy: one scale for all resized axes, output round(in * scale)
    Case("Resize", [Y, EMPTY, None, sz(13, 17)], {"mode": "nearest", "axes": [2, 3],
         "keep_aspect_ratio_policy": "not_larger"}, const_inputs=(1, 3), id="not-larger"),
    Case("Resize", [Y, EMPTY, None, sz(5, 3)], {"mode": "linear", "axes": [2, 3],
         "keep_aspect_ratio_policy": "not_smaller"}, const_inputs=(1, 3), id="not-smaller"),
    # align_corners with scales: ONNX's length_resized is in * scale, not the floored output size
    # (test_resize_downsample_scales_linear_align_corners was wrong with the integer length).
    Case("Resize", [Y, EMPTY, sc(1, 1, 0.6, 0.75)], {"mode": "linear", "coordinate_transformation_mode":
         "align_corners"}, const_inputs=(1, 2), id="linear-align-fractional-down"),
]
