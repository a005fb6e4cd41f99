"""Every non-conv equivalence case, run through every algorithm, against ONNX Runtime on a one-node ONNX
model: the tests/reference implementations encode our reading of the spec, ORT is a second, independent
reading (it caught a wrong negative Flatten axis that both of ours shared)."""

import numpy as np
import pytest

from jitmnn.ops import registry
from tests import tolerances
from tests.cases import all_cases
from tests.harness import run_case

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ort.set_default_logger_severity(3)
NOT_MINE = {"Conv", "ConvTranspose", "MatMul", "Gemm"}
# Fused-activation attributes are our IR's, not ONNX's: those cases are checked against tests/reference only.
CASES = [c for c in all_cases()[0] if c.op not in NOT_MINE and "activation" not in c.attrs]
NP2ONNX = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
           np.dtype(np.bool_): TensorProto.BOOL, np.dtype(np.int32): TensorProto.INT32}


def _opset(case) -> int:
    """The opset whose signature matches how the case passes its configuration (attribute vs input)."""
    a = case.attrs
    if case.op == "Gelu":
        return 20
    if case.op == "Resize" and ("axes" in a or a.get("coordinate_transformation_mode") == "half_pixel_symmetric"):
        return 19
    if (case.op == "Split" and "num_outputs" in a) or case.op == "Mish":
        return 18
    if case.op == "LayerNormalization":
        return 17
    if case.op == "Shape" and a:
        return 15
    if case.op == "HardSwish":
        return 14
    if case.op in ("Squeeze", "Unsqueeze", "Split", "ReduceSum") and ("axes" in a or "split" in a):
        return 11
    if case.op == "Clip" and ("min" in a or "max" in a):
        return 6
    return 13


def _ort_outputs(case):
    names, inits, feeds, vis = [], [], {}, []
    for i, a in enumerate(case.inputs):
        if a is None:
            names.append("")
            continue
        a = np.asarray(a)
        n = f"in{i}"
        names.append(n)
        if i in case.const_inputs:
            inits.append(numpy_helper.from_array(a, n))
        else:
            feeds[n] = a
            vis.append(helper.make_tensor_value_info(n, NP2ONNX[a.dtype], list(a.shape)))
    attrs = dict(case.attrs)
    if case.op == "ConstantOfShape":
        attrs["value"] = numpy_helper.from_array(np.asarray(attrs["value"]).reshape(1))
    outs = [f"out{k}" for k in range(case.n_outputs)]
    g = helper.make_graph([helper.make_node(case.op, names, outs, **attrs)], "one", vis,
                          [onnx.ValueInfoProto(name=o) for o in outs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", _opset(case))], ir_version=9)
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.op}-{c.id}" for c in CASES])
def test_case_matches_onnxruntime(case):
    want = _ort_outputs(case)
    for alg in registry.algorithms(case.op):
        got = run_case(case, alg)
        if got is None:
            continue
        for g, w in zip(got, want):
            w = np.asarray(w)
            assert g.shape == w.shape, f"{alg} on {case}: shape {g.shape} != ORT {w.shape}"
            if g.dtype.kind == "f" or w.dtype.kind == "f":
                np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{alg} on {case}: NaN pattern")
                err = tolerances.rel_err(np.nan_to_num(g), np.nan_to_num(w))
                assert err <= tolerances.F32, f"{alg} on {case}: rel err {err:.3g} vs ORT"
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{alg} on {case}")
