"""ONNX's own backend conformance suite (the node tests ONNX Runtime reports against, plus the
pytorch-converted/-operator and simple model tests the onnx wheel ships) through jitmnn.backend.
Every case not excluded in tests/onnx_exclusions.py must pass: same output shapes, dtypes and values within
the tolerance each case carries. Real-model tests (downloaded from the network) are not collected."""

import re
import warnings

import onnx.backend.test
import pytest

from jitmnn.backend import JitmnnBackend
from tests.onnx_exclusions import EXCLUDED

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the test generators' own float8/int4 casts warn at import
    _backend_test = onnx.backend.test.BackendTest(JitmnnBackend, __name__)
for _pattern, _reason in EXCLUDED:
    _backend_test.exclude(_pattern)

_CASES = _backend_test.test_cases
# Collected: every category but the real models, which onnx downloads from the network.
for _name in ("OnnxBackendNodeModelTest", "OnnxBackendSimpleModelTest", "OnnxBackendPyTorchConvertedModelTest",
              "OnnxBackendPyTorchOperatorModelTest"):
    globals()[_name] = _CASES[_name]


def test_every_exclusion_pattern_matches_a_case():
    """A pattern that matches nothing is stale (the op became supported, or the test was renamed)."""
    from onnx.backend.test.loader import load_model_tests

    names = [c.name for kind in ("node", "simple", "pytorch-converted", "pytorch-operator")
             for c in load_model_tests(kind=kind)]
    stale = [p for p, _ in EXCLUDED if not any(re.search(p, n) for n in names)]
    assert not stale, f"exclusion patterns matching no test case: {stale}"
