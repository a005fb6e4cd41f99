"""DeformConv: offsets of a few pixels (taps land between pixels and outside the image), offset groups,
conv groups, mask and bias, strides / pads / dilations."""

import numpy as np

from tests.harness import Case, rng


def _case(cid, n, c, hw, k, ks, strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1, og=1, bias=False,
          mask=False, seed=0):
    x = rng(seed).standard_normal((n, c) + hw).astype(np.float32)
    w = (rng(seed + 1).standard_normal((k, c // group) + ks) * 0.3).astype(np.float32)
    oh = (hw[0] + pads[0] + pads[2] - (ks[0] - 1) * dil[0] - 1) // strides[0] + 1
    ow = (hw[1] + pads[1] + pads[3] - (ks[1] - 1) * dil[1] - 1) // strides[1] + 1
    off = (rng(seed + 2).standard_normal((n, og * ks[0] * ks[1] * 2, oh, ow)) * 1.5).astype(np.float32)
    b = rng(seed + 3).standard_normal(k).astype(np.float32) if bias else None
    m = rng(seed + 4).uniform(0, 1, (n, og * ks[0] * ks[1], oh, ow)).astype(np.float32) if mask else None
    attrs = {"kernel_shape": list(ks), "strides": list(strides), "pads": list(pads), "dilations": list(dil),
             "group": group, "offset_group": og}
    inputs = [x, w, off, b, m]
    while inputs[-1] is None:
        inputs.pop()
    return Case("DeformConv", inputs, attrs, const_inputs=(1,), id=cid)


CASES = [
    _case("basic", 1, 1, (5, 6), 1, (2, 2)),
    _case("pads-bias-mask", 2, 3, (6, 5), 4, (3, 3), pads=(1, 1, 1, 1), bias=True, mask=True, seed=10),
    _case("offset-groups-conv-groups", 1, 4, (7, 6), 6, (2, 3), strides=(2, 1), pads=(0, 1, 1, 0), dil=(2, 1),
          group=2, og=2, bias=True, seed=20),
    _case("mask-no-bias", 1, 2, (4, 4), 2, (3, 3), pads=(1, 1, 1, 1), mask=True, seed=30),
]
