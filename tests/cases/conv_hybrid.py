"""Hybrid conv cases: the same geometries as the fp32 conv cases, with the weight stored compressed.
The independent reference runs on the expanded weights, so the hybrid kernels must match to F32: the
dequantization is exact arithmetic on stored values, only the GEMM order differs."""

import dataclasses

from jitmnn.compression import compress
from tests.cases.conv import conv_case

_GEOMETRIES = [
    ("1x1", dict(n=2, c=17, hw=(7, 9), k=13, ks=(1, 1))),
    ("3x3-p1", dict(n=2, c=13, hw=(17, 18), k=17, ks=(3, 3), pads=(1, 1, 1, 1))),
    ("3x3-s2-asym", dict(n=1, c=17, hw=(17, 18), k=3, ks=(3, 3), strides=(2, 2), pads=(0, 1, 2, 1))),
    ("g2", dict(n=1, c=6, hw=(7, 9), k=4, ks=(3, 3), pads=(1, 1, 1, 1), group=2)),
    ("dw", dict(n=2, c=13, hw=(7, 9), k=13, ks=(3, 3), pads=(1, 1, 1, 1), group=13)),
]
_STORAGE = [("fp16", 0, False), ("bf16", 0, False), ("int8", 0, False), ("int8", 32, True), ("int4", 32, False),
            ("int4", 16, True)]

CASES = []
for gname, kw in _GEOMETRIES:
    for i, (kind, block, asym) in enumerate(_STORAGE):
        base = conv_case(f"hyb-{gname}-{kind}-b{block}{'-asym' if asym else ''}", act=("relu", []), seed=i, **kw)
        inputs = list(base.inputs)
        inputs[1] = compress(inputs[1], kind, block, asym)
        CASES.append(dataclasses.replace(base, inputs=inputs))

TIERS = {"hybrid_gemm1x1": "F32", "hybrid_im2col": "F32", "hybrid_depthwise": "F32", "hybrid_own_gemm": "F32"}
