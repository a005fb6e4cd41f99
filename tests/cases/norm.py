import numpy as np

from tests.harness import Case, rng


def r(seed, shape):
    return rng(seed).standard_normal(shape).astype(np.float32)


def bn_params(c, seed):
    return [r(seed, (c,)), r(seed + 1, (c,)), r(seed + 2, (c,)), np.abs(r(seed + 3, (c,))) + np.float32(0.1)]


CASES = [
    Case("BatchNormalization", [r(1, (2, 13, 7, 9))] + bn_params(13, 10), {"epsilon": 1e-5},
         const_inputs=(1, 2, 3, 4), id="nchw"),
    Case("BatchNormalization", [r(2, (1, 17, 17, 18))] + bn_params(17, 20), {}, const_inputs=(1, 2, 3, 4), id="17"),
    Case("BatchNormalization", [r(3, (2, 3))] + bn_params(3, 30), {}, const_inputs=(1, 2, 3, 4), id="2d"),
    # rec model: BatchNormalization on a 3-D [N, C, L] tensor.
    Case("BatchNormalization", [r(4, (1, 13, 40))] + bn_params(13, 40), {}, const_inputs=(1, 2, 3, 4), id="3d"),
    Case("LayerNormalization", [r(5, (2, 17, 120)) * 3 + 1, r(6, (120,)), r(7, (120,))], {"epsilon": 1e-6},
         const_inputs=(1, 2), id="btc"),
    Case("LayerNormalization", [r(8, (2, 13, 7, 9)), r(9, (7, 9))], {"axis": -2}, const_inputs=(1,), id="axis-2-no-bias"),
    Case("LayerNormalization", [r(10, (3, 13)), r(11, (13,)), r(12, (13,))], {"axis": 1}, const_inputs=(1, 2),
         id="2d"),
    # Scale/B with leading 1s (as some exporters write them) still mean one value per column.
    Case("LayerNormalization", [r(16, (2, 5, 17)), r(17, (1, 1, 17)), r(18, (1, 17))], {}, const_inputs=(1, 2),
         id="scale-leading-ones"),
    # Mean and InvStdDev outputs (the reference algorithm; the numba one writes Y only).
    Case("LayerNormalization", [r(19, (2, 3, 5)), r(20, (3, 5)), r(21, (3, 5))], {"axis": 1, "epsilon": 0.1},
         n_outputs=3, id="mean-invstd-outputs"),
    Case("InstanceNormalization", [r(13, (2, 13, 7, 9)), r(14, (13,)), r(15, (13,))], {"epsilon": 1e-5},
         const_inputs=(1, 2), id="nchw"),
]
