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
from onnx import helper, numpy_helper  # noqa: E402

ort.set_default_logger_severity(3)
NotImplementedError_ = ort.capi.onnxruntime_pybind11_state.NotImplemented
Fail_ = ort.capi.onnxruntime_pybind11_state.Fail
InvalidGraph_ = ort.capi.onnxruntime_pybind11_state.InvalidGraph
NOT_MINE = {"Conv", "ConvTranspose", "MatMul", "Gemm"}
# Fused-activation attributes are our IR's, not ONNX's: those cases are checked against tests/reference only.
CASES = [c for c in all_cases()[0] if c.op not in NOT_MINE and "activation" not in c.attrs]

def _opset(case) -> int:
    """The opset whose signature matches how the case passes its configuration (attribute vs input)."""
    a = case.attrs
    if "opset" in a:  # the IR records the model's opset where an op's defaults depend on it (DFT's axis)
        return int(a["opset"])
    if a.get("coerce_2d"):  # the IR's spelling of opset < 13 Softmax-family semantics
        return 11
    if case.op == "Gelu":
        return 20
    if case.op == "Resize" and ("axes" in a or a.get("coordinate_transformation_mode") == "half_pixel_symmetric"
                                or "antialias" in a or "keep_aspect_ratio_policy" in a):
        return 19
    if case.op in ("AveragePool", "LpPool") and "dilations" in a:  # AveragePool-19, LpPool-18
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
    if case.op in ("Attention", "RotaryEmbedding", "RMSNormalization"):
        return 25 if {"left_window_size", "right_window_size"} & set(a) else 24 if len(case.inputs) > 6 else 23
    if case.op == "GridSample" and (a.get("mode") in ("linear", "cubic") or np.ndim(case.inputs[0]) == 5):
        return 20  # the opset-20 mode names and volumetric grids
    if case.op == "RoiAlign":  # opset 16: coordinate_transformation_mode defaults to half_pixel
        return 16
    if case.op == "Scatter":  # deprecated at opset 11
        return 9
    if case.op == "GroupNormalization":  # one scale per group (18) or per channel (21)
        return 21 if np.shape(case.inputs[1])[0] == np.shape(case.inputs[0])[1] else 18
    return _first_opset_with(case, 13)


def _split_domain(op: str):
    return tuple(op.split("::", 1)) if "::" in op else ("", op)


def _first_opset_with(case, start: int) -> int:
    """The first opset from `start` whose schema of the op has every attribute the case sets (Cast's saturate
    is opset 19, round_mode 25; TopK's k input 10, ...); `start` when none does."""
    domain, name = _split_domain(case.op)
    if domain:
        return start
    wanted = set(case.attrs) - {"coerce_2d", "opset"}
    for opset in range(start, onnx.defs.onnx_opset_version() + 1):
        try:
            schema = onnx.defs.get_schema(name, opset, domain)
        except onnx.defs.SchemaError:
            continue
        if wanted <= set(schema.attributes) and len(case.inputs) <= schema.max_input and _types_allowed(schema, case):
            return opset
    return start


def _types_allowed(schema, case) -> bool:
    """Every input's element type is in the schema's type constraint (float8 needs opset 19, int4 21, ...)."""
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    for i, a in enumerate(case.inputs):
        if a is None or i >= len(schema.inputs):
            continue
        code = helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype)
        type_str = f"tensor({onnx.TensorProto.DataType.Name(code).lower()})"
        param = schema.inputs[min(i, len(schema.inputs) - 1)].type_str
        if param in allowed and type_str not in allowed[param]:
            return False
    return True


def _one_node_model(case):
    """(ModelProto, feeds) holding the case as one ONNX node at the opset its configuration belongs to."""
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
            vis.append(helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
    attrs = {k: v for k, v in case.attrs.items() if k not in ("coerce_2d", "opset")}
    if case.op == "ConstantOfShape":
        attrs["value"] = numpy_helper.from_array(np.asarray(attrs["value"]).reshape(1))
    domain, name = _split_domain(case.op)
    opset = _opset(case)
    min_outputs = onnx.defs.get_schema(name, opset).min_output if not domain else case.n_outputs
    outs = [f"out{k}" for k in range(max(case.n_outputs, min_outputs))]  # TopK always has 2 outputs
    node = helper.make_node(name, names, outs, domain=domain or None, **attrs)
    g = helper.make_graph([node], "one", vis, [onnx.ValueInfoProto(name=o) for o in outs], inits)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(g, opset_imports=imports, ir_version=10), feeds


def _ort_outputs(case):
    """ONNX Runtime's outputs, or None with the reason when this ONNX Runtime cannot run the case (no kernel
    or numpy type for an element type, a variant it does not implement)."""
    m, feeds = _one_node_model(case)
    try:
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, feeds), ""
    except (NotImplementedError_, InvalidGraph_, Fail_, RuntimeError) as e:
        msg = str(e).splitlines()[0][:200]
        if isinstance(e, (NotImplementedError_, Fail_)) or "Type Error: Type 'tensor(" in msg \
                or "umpy type" in msg or "MLDataType" in msg or "deprecated" in msg:
            return None, msg
        raise


def _onnx_reference_outputs(case):
    """ONNX's own executable spec (onnx.reference.ReferenceEvaluator) on the same one-node model."""
    from onnx.reference import ReferenceEvaluator

    m, feeds = _one_node_model(case)
    node = m.graph.node[0]
    if node.op_type == "GridSample":  # the evaluator knows only the opset-20 mode names
        for at in node.attribute:
            if at.name == "mode":
                at.s = {b"bilinear": b"linear", b"bicubic": b"cubic"}.get(at.s, at.s)
        m.opset_import[0].version = max(m.opset_import[0].version, 20)
    return ReferenceEvaluator(m).run(None, feeds)


def _known_difference(case) -> str:
    """Where we follow ONNX's reference (which the conformance data encodes) and ORT reads the spec otherwise."""
    a = case.attrs
    if case.op == "Resize" and a.get("coordinate_transformation_mode") in ("align_corners", "tf_crop_and_resize") \
            and len(case.inputs) > 2 and case.inputs[2] is not None and np.size(case.inputs[2]):
        spatial = np.asarray(case.inputs[0].shape, np.float64) * np.asarray(case.inputs[2], np.float64)
        if np.any(spatial != np.floor(spatial)):
            return ("align_corners with scales: ONNX's length_resized is in * scale (fractional here), ORT uses "
                    "the floored output size (ORT fails test_resize_downsample_scales_*_align_corners)")
    if case.op in ("If", "Loop", "Scan", "ai.onnx.preview::FlexAttention"):
        return ("subgraph ops carry IR attributes (serialized bodies, outer values): checked against ONNX's "
                "ReferenceEvaluator in test_kernel_equivalence and by ONNX's conformance tests")
    if case.op == "MatMulInteger" and any(np.size(z) > 1 for z in case.inputs[2:] if z is not None):
        return ("per-row/per-column zero points (the spec allows them): ONNX Runtime requires scalars and ONNX's "
                "reference evaluator does not broadcast them; tests/reference checks the case")
    if case.op == "OneHot" and np.asarray(case.inputs[0]).dtype.kind == "f":
        return ("float indices: ONNX Runtime has no such kernel and ONNX's reference evaluator rejects the case; "
                "tests/reference checks it")
    if case.op == "BlackmanWindow" and not a.get("periodic", 1) and int(np.asarray(case.inputs[0])) == 1:
        return ("a symmetric window of one point: the formula divides by N - 1 = 0, so ONNX Runtime and ONNX's "
                "reference evaluator return NaN; jitmnn returns 1.0, as numpy.blackman(1) does")
    if case.op == "SpaceToDepth" and "mode" in a:
        return "SpaceToDepth's mode attribute is opset 24, which this ONNX Runtime does not implement"
    return ""


def _mismatch(case, alg, got, want) -> str:
    """'' when every output agrees (same shape, NaN pattern, values within the tier of its dtype), else why."""
    for g, w in zip(got, want):
        w, got_k = np.asarray(w), g
        if g.dtype != w.dtype and w.dtype == np.uint8 and g.dtype.itemsize == 1:
            g = g.view(np.uint8)  # ONNX Runtime hands float8 back as its raw bits
        if g.shape != w.shape:
            return f"{alg} on {case}: shape {g.shape} != {w.shape}"
        if g.dtype.kind in "fV" or w.dtype.kind == "f" or g.dtype.itemsize != w.dtype.itemsize:
            g, w = g.astype(np.float64), w.astype(np.float64)
            if not np.array_equal(np.isnan(g), np.isnan(w)):
                return f"{alg} on {case}: NaN pattern differs"
            # half-precision outputs are rounded once to an 11-bit mantissa: FP16 tier
            tol = tolerances.FP16 if min(np.asarray(x).dtype.itemsize for x in (got_k, w)) <= 2 else tolerances.F32
            err = tolerances.rel_err(np.nan_to_num(g), np.nan_to_num(w))
            if err > tol:
                return f"{alg} on {case}: rel err {err:.3g} > {tol}"
        elif not np.array_equal(g, w):
            return f"{alg} on {case}: values differ"
    return ""


@pytest.mark.parametrize("case", CASES, ids=[f"{c.op}-{c.id}" for c in CASES])
def test_case_matches_onnxruntime(case):
    """Every algorithm agrees with ONNX Runtime. Where this ONNX Runtime cannot run the case, or reads the spec
    otherwise, ONNX's own reference evaluator decides, and the test says which it used."""
    if _known_difference(case):
        pytest.skip(_known_difference(case))
    want, why_not = _ort_outputs(case)
    for alg in registry.algorithms(case.op):
        got = run_case(case, alg)
        if got is None:
            continue
        problem = _mismatch(case, alg, got, want) if want is not None else why_not
        if problem:
            spec = _onnx_reference_outputs(case)
            assert not _mismatch(case, alg, got, spec), \
                f"{_mismatch(case, alg, got, spec)} (ONNX's reference evaluator); ONNX Runtime: {problem}"
