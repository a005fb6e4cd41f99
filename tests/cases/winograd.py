"""Winograd F(2,3)/F(4,3)/F(6,3) cases (3x3, stride 1, dilation 1, group 1): channels 1, 3, 13, 17;
sizes 7x9 and 17x18, which leave partial tiles on the right and bottom edges for every unit (m = 2, 4, 6);
pads 0, 1 and asymmetric (including a pad wider than a tile's overlap); batch 2; bias present and
absent; fused activations. Every Conv algorithm runs them, so they also cross-check im2col."""

import numpy as np

from tests.harness import Case, rng

# Tolerance tiers (tests/tolerances.py). F(2,3)'s transforms use only 0/+-1 (and 1/2 in G), so it stays
# within fp32 direct-conv error; F(4,3)/F(6,3) amplify rounding by their larger coefficients.
TIERS = {"winograd_f23": "F32", "winograd_f43": "WINOGRAD_F43", "winograd_f63": "WINOGRAD_F63",
         "winograd_f23_lean": "F32", "winograd_f43_lean": "WINOGRAD_F43"}


def _case(cid, n, c, hw, k, pads, bias=True, act=None, seed=0):
    x = rng(seed).standard_normal((n, c) + hw).astype(np.float32)
    w = (rng(seed + 1).standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    attrs = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": list(pads), "dilations": [1, 1], "group": 1}
    if act:
        attrs["activation"], attrs["activation_params"] = act
    inputs = [x, w]
    if bias:
        inputs.append(rng(seed + 2).standard_normal(k).astype(np.float32))
    return Case("Conv", inputs, attrs, const_inputs=(1, 2), id=cid)


CASES = [
    # the smallest channels: one-channel GEMMs (K = C = 1) with 'same' padding
    _case("wino-c1k1-p1", 1, 1, (7, 9), 1, (1, 1, 1, 1), seed=100),
    # batch 2 in one block (several images per GEMM), relu epilogue
    _case("wino-b2-c3k13-p1-relu", 2, 3, (7, 9), 13, (1, 1, 1, 1), act=("relu", []), seed=110),
    # no padding: the output is 5x7 / 15x16, so the last tile row and column are cut for every unit
    _case("wino-c13k17-p0", 1, 13, (17, 18), 17, (0, 0, 0, 0), bias=False, seed=120),
    # asymmetric pads (top 0, left 2, bottom 1, right 0): the left pad exceeds the 2-column tile overlap
    _case("wino-b2-c17k3-asym", 2, 17, (17, 18), 3, (0, 2, 1, 0), act=("clip", [-0.5, 0.5]), seed=130),
    # large bottom/right pads: whole tiles of padding
    _case("wino-c3k1-bigpad", 1, 3, (7, 9), 1, (2, 0, 3, 4), act=("hardswish", []), seed=140),
    # 17x18 'same' with a transcendental activation and no bias
    _case("wino-b2-c17k13-p1-silu", 2, 17, (17, 18), 13, (1, 1, 1, 1), bias=False, act=("silu", []), seed=150),
]
