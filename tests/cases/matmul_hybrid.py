"""Hybrid Gemm/MatMul: compressed constant B, both stored orientations, panels that do not divide N/K."""

import numpy as np

from jitmnn.compression import compress
from tests.harness import Case, rng


def _f(shape, seed):
    return rng(seed).standard_normal(shape).astype(np.float32)


CASES = [
    # fc layer as exported by the zoo: transB=1, bias C, 130 outputs = 2 full panels + a ragged one
    Case("Gemm", [_f((2, 77), 1), compress(_f((130, 77), 2), "int8"), _f((130,), 3)], {"transB": 1},
         const_inputs=(1, 2), id="hyb-transB-int8"),
    Case("Gemm", [_f((1, 77), 4), compress(_f((77, 130), 5), "int4", 32, True), _f((130,), 6)],
         {"alpha": 0.5, "beta": 2.0, "activation": "relu"}, const_inputs=(1, 2), id="hyb-B-KN-int4"),
    Case("Gemm", [_f((3, 150), 7), compress(_f((150, 20), 8), "fp16")], {}, const_inputs=(1,), id="hyb-noC-fp16"),
    # rec-style x[1, T, C] @ W[C, D]
    Case("MatMul", [_f((1, 40, 150), 9), compress(_f((150, 33), 10), "int8", 16)], {}, const_inputs=(1,),
         id="hyb-3d-int8"),
    Case("MatMul", [_f((2, 5, 70), 11), compress(_f((70, 9), 12), "bf16")], {"activation": "gelu"},
         const_inputs=(1,), id="hyb-3d-bf16-gelu"),
]
TIERS = {"hybrid": "F32"}
