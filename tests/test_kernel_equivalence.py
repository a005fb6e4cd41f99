"""Registry-driven equivalence: every algorithm of every op runs against the independent reference in
tests/reference on the cases in tests/cases. A new algorithm with no case that exercises it, or an op
with no reference, fails here."""

import pytest

from jitmnn.ops import registry
from tests import tolerances
from tests.cases import all_cases
from tests.harness import as_float, fp16_storage_positions, make_ctx, round_to_fp16, run_case
from tests.reference import all_references

CASES, TIERS = all_cases()
REFS = all_references()
# Only the (case, algorithm) pairs where the algorithm applies: the planner would never run the others,
# and test_every_algorithm_is_exercised below makes sure each algorithm has at least one.
PAIRS = [(c, name) for c in CASES for name, alg in registry.algorithms(c.op).items() if alg.applies(make_ctx(c))]


@pytest.mark.parametrize("case,algorithm", PAIRS, ids=[f"{c.op}-{c.id}-{a}" for c, a in PAIRS])
def test_algorithm_matches_reference(case, algorithm):
    got = run_case(case, algorithm)
    if got is None:
        pytest.skip(f"{algorithm} does not apply to {case}")
    ref = REFS[case.op](dict(case.attrs), [as_float(a) for a in case.inputs])
    tier = TIERS.get(algorithm, "F32") if algorithm != "reference" else "F32"
    tol = tolerances.TIERS[tier]
    for g, r in zip(got, ref):
        err = tolerances.rel_err(g, r)
        assert err <= tol, f"{algorithm} on {case}: rel err {err:.3g} > {tier} {tol}"


FP16_PAIRS = [(c, a) for c, a in PAIRS if registry.algorithms(c.op)[a].fp16
              and any(fp16_storage_positions(c, registry.algorithms(c.op)[a]))]


@pytest.mark.parametrize("case,algorithm", FP16_PAIRS, ids=[f"{c.op}-{c.id}-{a}" for c, a in FP16_PAIRS])
def test_fp16_activation_storage_matches_reference(case, algorithm):
    """precision="low" stores activations as fp16 bits around algorithms that declare it. The reference
    sees the same fp16-rounded inputs; a converting kernel adds only its output's own rounding (2^-11
    relative), a bit-moving one nothing."""
    alg = registry.algorithms(case.op)[algorithm]
    half_in, half_out = fp16_storage_positions(case, alg)
    got = run_case(case, algorithm, fp16=True)
    inputs = [round_to_fp16(as_float(a)) if i in half_in else as_float(a) for i, a in enumerate(case.inputs)]
    ref = REFS[case.op](dict(case.attrs), inputs)
    if alg.fp16 == registry.MOVES_BITS:
        tol = tolerances.EXACT
    else:
        tol = tolerances.TIERS[TIERS.get(algorithm, "F32")] + tolerances.FP16_ACTIVATIONS
    for i, (g, r) in enumerate(zip(got, ref)):
        r = round_to_fp16(r) if alg.fp16 == registry.MOVES_BITS and i in half_out else r
        err = tolerances.rel_err(g, r)
        assert err <= tol, f"{algorithm} on {case} with fp16 activations: rel err {err:.3g} > {tol}"


def _needs_missing_hardware() -> set:
    """Algorithms this CPU cannot run (they never apply here, so no case can exercise them): Conv "bf16" without
    AVX512-BF16 (or with JITMNN_BF16=0)."""
    from jitmnn import cpu

    return set() if cpu.bf16_tier() == "avx512_bf16" else {("Conv", "bf16")}


def test_fp16_storage_is_exercised_for_every_declaring_algorithm():
    declared = {(op, a) for op in registry.all_ops() for a, alg in registry.algorithms(op).items() if alg.fp16}
    declared -= _needs_missing_hardware()
    missing = sorted(declared - {(c.op, a) for c, a in FP16_PAIRS})
    assert not missing, f"algorithms declaring fp16 storage with no case that runs them on fp16: {missing}"


def test_every_op_has_an_independent_reference():
    missing = sorted(set(registry.all_ops()) - set(REFS))
    assert not missing, f"ops without a reference in tests/reference: {missing}"


def test_every_algorithm_is_exercised():
    exercised = set()
    for c in CASES:
        for name, alg in registry.algorithms(c.op).items():
            if alg.applies(make_ctx(c)):
                exercised.add((c.op, name))
    registered = {(op, a) for op in registry.all_ops() for a in registry.algorithms(op)}
    missing = sorted(registered - exercised - _needs_missing_hardware())
    assert not missing, f"algorithms no case exercises: {missing}"
