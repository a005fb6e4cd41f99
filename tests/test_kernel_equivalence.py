"""Registry-driven equivalence: every algorithm of every op runs against the independent reference in
tests/reference on the cases in tests/cases. A new algorithm with no case that exercises it, or an op
with no reference, fails here."""

import numpy as np
import pytest

from jitmnn.ops import registry
from tests import tolerances
from tests.cases import all_cases
from tests.harness import as_float, make_ctx, run_case
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
    missing = sorted(registered - exercised)
    assert not missing, f"algorithms no case exercises: {missing}"
