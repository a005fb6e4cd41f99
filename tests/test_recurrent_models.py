"""Recurrent ops in whole models against ONNX Runtime, plus what the one-node ORT comparison cannot take:
layout=1 (ORT refuses it), omitted outputs, and bad run-time sequence lengths.

The model is a CRNN text-recognition head in miniature: Conv -> features reshaped to a [time, batch, feature]
sequence -> a bidirectional LSTM (hidden 96) -> per-step MatMul to class logits, random weights."""

import numpy as np
import pytest

from jitmnn.backend import JitmnnBackend
from jitmnn.errors import InputError, ShapeError
from jitmnn.ops import registry
from tests import tolerances
from tests.cases.recurrent import GATES, LAYOUT1_CASES
from tests.harness import as_float, rng, run_case
from tests.reference import all_references

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ort.set_default_logger_severity(3)
OPSET = 17


def _init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def crnn_model(op="LSTM", attrs=None, channels=8, height=8, width=80, conv_out=32, hidden=96, classes=37, seed=0):
    """x [1, channels, height, width] -> logits [width, 1, classes] and the recurrent layer's Y_h."""
    g = rng(seed)
    f32 = lambda shape, s: (g.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    feat = conv_out * height
    ng = GATES[op]
    inits = [
        _init("conv_w", f32((conv_out, channels, 3, 3), 0.2)), _init("conv_b", f32((conv_out,), 0.1)),
        _init("seq_shape", np.array([1, feat, width], np.int64)),
        _init("rnn_w", f32((2, ng * hidden, feat), 0.08)), _init("rnn_r", f32((2, ng * hidden, hidden), 0.1)),
        _init("rnn_b", f32((2, 2 * ng * hidden), 0.1)),
        _init("head_shape", np.array([width, 1, 2 * hidden], np.int64)),
        _init("head_w", f32((2 * hidden, classes), 0.1)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["act"]),
        helper.make_node("Reshape", ["act", "seq_shape"], ["flat"]),            # [1, C*H, W]
        helper.make_node("Transpose", ["flat"], ["seq"], perm=[2, 0, 1]),       # [W, 1, C*H]
        helper.make_node(op, ["seq", "rnn_w", "rnn_r", "rnn_b"], ["y", "y_h"], hidden_size=hidden,
                         direction="bidirectional", **(attrs or {})),          # y [W, 2, 1, hidden]
        helper.make_node("Transpose", ["y"], ["y_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["y_t", "head_shape"], ["y_cat"]),          # [W, 1, 2*hidden]
        helper.make_node("MatMul", ["y_cat", "head_w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "crnn_head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, height, width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("y_h", TensorProto.FLOAT, None)], inits)
    x = g.standard_normal((1, channels, height, width)).astype(np.float32)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), {"x": x}


def ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def recurrent_steps(rep):
    plan = rep.module.prepare({n: s for n, (s, _) in rep.module.input_specs.items()})
    return [s for s in plan.steps if s.node.op in GATES]


@pytest.mark.parametrize("op,attrs", [("LSTM", {}), ("GRU", {"linear_before_reset": 1}), ("GRU", {}), ("RNN", {})],
                         ids=["lstm", "gru-lbr", "gru", "rnn"])
@pytest.mark.parametrize("algorithm", ["numba", "reference"])
def test_crnn_head_matches_onnxruntime(op, attrs, algorithm):
    model, feeds = crnn_model(op, attrs)
    want = ort_run(model, feeds)
    rep = JitmnnBackend.prepare(model, num_threads=1, overrides={op: algorithm})
    assert [s.algorithm for s in recurrent_steps(rep)] == [algorithm]
    got = rep.run([feeds["x"]])
    for name, g, w in zip(("logits", "y_h"), got, want):
        err = tolerances.rel_err(g, w)
        assert err <= tolerances.MODEL_VS_ORT, f"{op} {attrs} {algorithm}: {name} rel err {err:.3g} vs ORT"


def test_crnn_head_plans_the_numba_kernel_by_default():
    model, _ = crnn_model("LSTM")
    steps = recurrent_steps(JitmnnBackend.prepare(model, num_threads=1))
    assert [s.algorithm for s in steps] == ["numba"], [(s.algorithm, s.reason) for s in steps]


def lstm_model(outputs, hid=13, inp=7, seq=9, batch=3, attrs=None, seed=1):
    """One LSTM with constant weights and run-time X, sequence_lens, initial_h/c; `outputs` may hold ''."""
    g = rng(seed)
    f32 = lambda shape, s=0.4: (g.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    inits = [_init("w", f32((2, 4 * hid, inp))), _init("r", f32((2, 4 * hid, hid))), _init("b", f32((2, 8 * hid))),
             _init("p", f32((2, 3 * hid)))]
    node = helper.make_node("LSTM", ["x", "w", "r", "b", "lens", "h0", "c0", "p"], outputs,
                            **dict({"hidden_size": hid, "direction": "bidirectional"}, **(attrs or {})))
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inp]),
           helper.make_tensor_value_info("lens", TensorProto.INT32, [batch]),
           helper.make_tensor_value_info("h0", TensorProto.FLOAT, [2, batch, hid]),
           helper.make_tensor_value_info("c0", TensorProto.FLOAT, [2, batch, hid])]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs if o]
    model = helper.make_model(helper.make_graph([node], "lstm", ins, outs, inits),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    feeds = {"x": f32((seq, batch, inp), 1.0), "lens": np.array([seq, 0, 4][:batch], np.int32),
             "h0": f32((2, batch, hid), 1.0), "c0": f32((2, batch, hid), 1.0)}
    return model, feeds


@pytest.mark.parametrize("outputs", [["", "y_h", "y_c"], ["y"], ["", "", "y_c"], ["y", "", "y_c"]],
                         ids=["no-Y", "Y-only", "Y_c-only", "no-Y_h"])
def test_omitted_outputs_match_onnxruntime(outputs):
    """An omitted output is neither written nor planned around; the others still match."""
    model, feeds = lstm_model(outputs)
    want = ort_run(model, feeds)
    rep = JitmnnBackend.prepare(model, num_threads=1)
    assert [s.algorithm for s in recurrent_steps(rep)] == ["numba"]
    got = rep.run([feeds[n] for n in rep.input_names])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        err = tolerances.rel_err(g, w)
        assert err <= tolerances.MODEL_VS_ORT, f"outputs {outputs}: rel err {err:.3g} vs ORT"


@pytest.mark.parametrize("algorithm", ["numba", "reference"])
def test_sequence_lengths_out_of_range_are_refused(algorithm):
    model, feeds = lstm_model(["y"])
    rep = JitmnnBackend.prepare(model, num_threads=1, overrides={"LSTM": algorithm})
    for bad in ([10, 1, 1], [3, -1, 2]):
        with pytest.raises(InputError, match="sequence_lens"):
            rep.run(dict(feeds, lens=np.array(bad, np.int32)))


@pytest.mark.parametrize("attrs,match", [
    ({"direction": "sideways"}, "direction"),
    ({"activations": ["Sigmoid", "Tanh"] * 2}, "activations"),
    ({"activations": ["Sigmoid", "Tanh", "Swish"] * 2}, "Swish|swish"),
    ({"activations": ["Sigmoid", "ScaledTanh", "Tanh"] * 2}, "scaledtanh"),
    ({"hidden_size": 5}, "hidden_size"),
], ids=["direction", "activation-count", "unknown-activation", "scaledtanh-without-values", "hidden-size"])
def test_bad_attributes_raise_typed_errors(attrs, match):
    model, feeds = lstm_model(["y"], attrs=attrs)
    with pytest.raises(ShapeError, match=match):
        rep = JitmnnBackend.prepare(model, num_threads=1)
        rep.run([feeds[n] for n in rep.input_names])


def _to_layout0(case):
    """The same computation in layout 0 (batch and time/direction axes swapped back), for ORT."""
    ins = [None if a is None else np.asarray(a) for a in case.inputs]
    ins[0] = ins[0].transpose(1, 0, 2)
    for i in (5, 6):
        if i < len(ins) and ins[i] is not None:
            ins[i] = ins[i].transpose(1, 0, 2)
    return ins


def _ort_layout0(case):
    ins = _to_layout0(case)
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(ins)]
    feeds = {n: a for n, a in zip(names, ins) if n}
    vis = [helper.make_tensor_value_info(n, TensorProto.INT32 if a.dtype == np.int32 else TensorProto.FLOAT,
                                         list(a.shape)) for n, a in feeds.items()]
    attrs = {k: v for k, v in case.attrs.items() if k != "layout"}
    outs = [f"out{k}" for k in range(case.n_outputs)]
    graph = helper.make_graph([helper.make_node(case.op, names, outs, **attrs)], "one", vis,
                              [onnx.ValueInfoProto(name=o) for o in outs])
    res = ort_run(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), feeds)
    return [r.transpose(2, 0, 1, 3) if r.ndim == 4 else r.transpose(1, 0, 2) for r in res]


@pytest.mark.parametrize("case", LAYOUT1_CASES, ids=[f"{c.op}-{c.id}" for c in LAYOUT1_CASES])
def test_layout1_matches_references_and_onnxruntime(case):
    """layout=1 (batch first) through every algorithm: against tests/reference and against ORT running the
    transposed layout-0 node (ORT refuses layout=1 itself)."""
    ref = all_references()[case.op](dict(case.attrs), [as_float(a) for a in case.inputs])
    want = _ort_layout0(case)
    ran = []
    for alg in registry.algorithms(case.op):
        got = run_case(case, alg)
        if got is None:
            continue
        ran.append(alg)
        for k, (g, r, w) in enumerate(zip(got, ref, want)):
            assert tolerances.rel_err(g, r) <= tolerances.F32, f"{alg} on {case}: output {k} vs reference"
            assert tolerances.rel_err(g, w) <= tolerances.F32, f"{alg} on {case}: output {k} vs ORT"
    assert "numba" in ran and "reference" in ran


def test_kernels_compile_once_whatever_stores_the_weights():
    """Read-only (memory-mapped) weights and sequence lengths must not add a second Numba signature: the
    kernels see only the algorithm's own writable copies (the executor's hot loop stays one compiled type)."""
    from numba import types

    from jitmnn.kernels import recurrent as KR
    from tests.cases.recurrent import CASES
    from tests.harness import Case

    refs = all_references()
    for case in [c for c in CASES + LAYOUT1_CASES if c.const_inputs]:
        ro = [None if a is None else np.array(a) for a in case.inputs]
        for a in ro:
            if a is not None:
                a.setflags(write=False)
        ro_case = Case(case.op, ro, case.attrs, case.const_inputs, case.id, case.n_outputs)
        got = run_case(ro_case, "numba")
        if got is None:
            continue
        ref = refs[case.op](dict(case.attrs), [as_float(a) for a in case.inputs])
        for g, r in zip(got, ref):
            assert tolerances.rel_err(g, r) <= tolerances.F32, f"numba on read-only {case}"
    for kern in (KR.lstm_direction, KR.gru_direction, KR.rnn_direction):
        assert len(kern.signatures) <= 1, f"{kern.__name__} compiled {len(kern.signatures)} times: {kern.signatures}"
        for sig in kern.signatures:
            assert all(t.mutable for t in sig if isinstance(t, types.Array)), f"{kern.__name__} compiled for {sig}"
