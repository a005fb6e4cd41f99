"""Valid ONNX variants that ONNX Runtime rejects, so they cannot live in tests/cases (test_nonconv_vs_ort
runs every case there through ORT): each runs through every algorithm that applies against tests/reference."""

import numpy as np
import pytest

from jitmnn.ops import registry
from tests import tolerances
from tests.harness import Case, as_float, make_ctx, rng, run_case
from tests.reference import all_references


def r(seed, shape):
    return rng(seed).standard_normal(shape).astype(np.float32)


VARIANTS = [
    # ORT requires an odd size; ONNX's window for even sizes reaches one channel further up than down.
    Case("LRN", [r(1, (2, 13, 17, 18))], {"size": 4, "alpha": 2e-3, "beta": 0.5, "bias": 2.0}, id="even-size"),
    # ORT takes 4-D input only; ONNX allows (N, C, D1..Dk) of any rank >= 2 (here 3-D).
    Case("LRN", [r(2, (2, 7, 11))], {"size": 5}, id="3d"),
    # ORT wants the mask's last axis to equal the total keys; ONNX pads a shorter one with -inf.
    Case("Attention", [r(3, (2, 4, 48)), r(4, (2, 6, 16)), r(5, (2, 6, 10)), r(6, (4, 5))],
         {"q_num_heads": 6, "kv_num_heads": 2, "softcap": 2.0}, id="3d-gqa-short-float-mask"),
    Case("Attention", [r(7, (1, 2, 3, 8)), r(8, (1, 2, 2, 8)), r(9, (1, 2, 2, 8)), rng(10).random((3, 4)) < 0.8,
                       r(11, (1, 2, 4, 8)), r(12, (1, 2, 4, 8))], {}, n_outputs=3, id="past-short-bool-mask"),
]
PAIRS = [(c, a) for c in VARIANTS for a, alg in registry.algorithms(c.op).items() if alg.applies(make_ctx(c))]


@pytest.mark.parametrize("case,algorithm", PAIRS, ids=[f"{c.op}-{c.id}-{a}" for c, a in PAIRS])
def test_variant_matches_reference(case, algorithm):
    got = run_case(case, algorithm)
    want = all_references()[case.op](dict(case.attrs), [as_float(a) for a in case.inputs])
    for g, w in zip(got, want):
        err = tolerances.rel_err(g, w)
        assert err <= tolerances.F32, f"{algorithm} on {case}: rel err {err:.3g}"


def test_lrn_variants_reach_the_numba_kernel():
    """The even-size and 3-D LRN variants must reach the numba kernel, not only the reference."""
    assert {(c.id, a) for c, a in PAIRS if c.op == "LRN"} >= {("even-size", "numba"), ("3d", "numba")}
