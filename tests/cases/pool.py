import numpy as np

from tests.harness import Case, rng

X = rng(1).standard_normal((2, 13, 17, 18)).astype(np.float32)
S = rng(2).standard_normal((1, 3, 7, 9)).astype(np.float32)

CASES = [
    # ResNet stem: 3x3 s2 p1; MobileNet-style 2x2 s2; cls model MaxPool 2x2 s2 no pad.
    Case("MaxPool", [X], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, id="resnet-stem"),
    Case("MaxPool", [X], {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0]}, id="2x2s2"),
    Case("MaxPool", [S], {"kernel_shape": [3, 2], "strides": [1, 2], "pads": [0, 1, 2, 0]}, id="asym-pads"),
    Case("MaxPool", [S], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 0, 0], "ceil_mode": 1}, id="ceil"),
    # ceil_mode where the last window would start in the end padding and must be dropped.
    Case("MaxPool", [S], {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, id="ceil-drop"),
    Case("MaxPool", [X], {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [2, 2, 2, 2], "dilations": [2, 2]}, id="dilated"),
    Case("MaxPool", [S], {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}, id="same-upper"),
    # rec model: AveragePool 3x2 stride 3x2, no padding.
    Case("AveragePool", [X], {"kernel_shape": [3, 2], "strides": [3, 2], "pads": [0, 0, 0, 0]}, id="ppocr-rec"),
    Case("AveragePool", [X], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, id="exclude-pad"),
    Case("AveragePool", [X], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                              "count_include_pad": 1}, id="include-pad"),
    Case("AveragePool", [S], {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [0, 1, 1, 1], "ceil_mode": 1,
                              "count_include_pad": 1}, id="ceil-include"),
    Case("AveragePool", [S], {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [0, 1, 1, 1], "ceil_mode": 1},
         id="ceil-exclude"),
    Case("GlobalAveragePool", [X], id="odd"),
    Case("GlobalAveragePool", [rng(3).standard_normal((1, 1, 1, 1)).astype(np.float32)], id="1x1"),
    Case("GlobalMaxPool", [X], id="odd"),
    Case("GlobalAveragePool", [rng(4).standard_normal((2, 5, 11)).astype(np.float32)], id="3d"),
    Case("GlobalMaxPool", [rng(5).standard_normal((1, 3, 4, 5, 6)).astype(np.float32)], id="5d"),
    # 1-D pooling (N, C, L): the 2-D kernel declines, the N-D reference runs.
    Case("MaxPool", [rng(6).standard_normal((2, 3, 17)).astype(np.float32)], {"kernel_shape": [3], "strides": [2],
                                                                            "pads": [1, 1]}, id="1d"),
    Case("LpPool", [S], {"kernel_shape": [2, 3], "strides": [1, 2], "pads": [1, 0, 0, 1], "p": 2}, id="p2"),
    Case("LpPool", [S], {"kernel_shape": [3, 3], "p": 1}, id="p1"),
]

V = rng(7).standard_normal((1, 2, 9, 8)).astype(np.float32)
V3 = rng(8).standard_normal((1, 2, 9, 7, 8)).astype(np.float32)
CASES += [
    # AveragePool with dilations divided by the undilated window span (and cut taps at k, not at the
    # dilated extent): test_averagepool_2d_dilations and the 3-D dilation tests gave wrong results.
    Case("AveragePool", [V], {"kernel_shape": [2, 2], "strides": [1, 1], "dilations": [2, 2], "ceil_mode": 1},
         id="dilated-ceil"),
    Case("AveragePool", [V], {"kernel_shape": [3, 2], "strides": [2, 3], "dilations": [2, 3], "pads": [2, 1, 1, 1],
                              "count_include_pad": 1, "ceil_mode": 1}, id="dilated-include-ceil"),
    Case("AveragePool", [V], {"kernel_shape": [3, 2], "strides": [2, 3], "dilations": [2, 3], "pads": [2, 0, 1, 1]},
         id="dilated-exclude"),
    Case("AveragePool", [V3], {"kernel_shape": [2, 3, 2], "strides": [2, 1, 3], "dilations": [2, 2, 3],
                               "pads": [1, 0, 1, 1, 2, 0], "count_include_pad": 1, "ceil_mode": 1}, id="3d-dilated"),
    Case("AveragePool", [rng(9).standard_normal((2, 3, 19)).astype(np.float32)],
         {"kernel_shape": [3], "strides": [2], "dilations": [3], "pads": [2, 1], "count_include_pad": 1}, id="1d-dilated"),
    Case("MaxPool", [V3], {"kernel_shape": [3, 2, 2], "strides": [2, 2, 1], "dilations": [1, 2, 2],
                           "pads": [1, 1, 0, 0, 1, 1]}, id="3d-dilated"),
    # MaxPool's Indices output: flat index into the whole input, row-major or column-major (storage_order=1).
    Case("MaxPool", [V], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, n_outputs=2,
         id="indices"),
    Case("MaxPool", [V], {"kernel_shape": [2, 3], "strides": [2, 1], "dilations": [2, 1], "storage_order": 1},
         n_outputs=2, id="indices-col-major"),
    Case("MaxPool", [V3], {"kernel_shape": [2, 2, 3], "strides": [2, 2, 2], "storage_order": 1}, n_outputs=2,
         id="indices-3d-col-major"),
    Case("LpPool", [V3], {"kernel_shape": [2, 2, 2], "strides": [2, 1, 2], "dilations": [1, 2, 1], "p": 3},
         id="3d-dilated-p3"),
    Case("LpPool", [V], {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER", "strides": [2, 2]}, id="same-lower"),
    Case("GlobalLpPool", [V], {"p": 3}, id="p3"),
    Case("GlobalLpPool", [V3], id="3d-default-p"),
]
