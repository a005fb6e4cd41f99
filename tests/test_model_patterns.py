"""Graph patterns of real exporters that jitmnn once refused, built with onnx.helper and run against ONNX
Runtime: each test pins one regression (the comment says which)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from jitmnn.backend import JitmnnBackend
from tests import tolerances

ort = pytest.importorskip("onnxruntime")


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def _ort_run(model, feeds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _check(model, feeds):
    want = _ort_run(model, feeds)
    got = JitmnnBackend.prepare(model).run([feeds[i.name] for i in model.graph.input])
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert tolerances.rel_err(g, w) <= tolerances.MODEL_VS_ORT


def yolov8_head(nc=3, reg_max=16, levels=((8, 8, 8), (4, 4, 16), (2, 2, 32))):
    """A YOLOv8-style detection head (ultralytics Detect at opset 17, dynamic batch): per level a 1x1 conv to
    4*reg_max + nc channels, flattened with a shape built from Shape -> Gather(scalar) -> Unsqueeze ->
    Concat (the pattern that gave 'Concat on axis 0: shapes [(1, 1), (1,), (1,)]'), concatenated over
    anchors, split into box and class logits, DFL (softmax over reg_max bins and a 1x1 conv with 0..15),
    dist2bbox with anchors and strides, sigmoid scores."""
    rng = np.random.default_rng(0)
    no = 4 * reg_max + nc
    nodes, inits, inputs, flats = [], [], [], []
    anchors, strides = [], []
    for i, (h, w, c) in enumerate(levels):
        x = f"p{i}"
        inputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", c, h, w]))
        inits += [_init(f"w{i}", rng.standard_normal((no, c, 1, 1)).astype(np.float32) * 0.3),
                  _init(f"b{i}", rng.standard_normal(no).astype(np.float32) * 0.1)]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"y{i}"], kernel_shape=[1, 1]))
        nodes += [helper.make_node("Shape", [f"y{i}"], [f"s{i}"]),
                  helper.make_node("Gather", [f"s{i}", "zero"], [f"n{i}"], axis=0),
                  helper.make_node("Unsqueeze", [f"n{i}", "axes0"], [f"n{i}u"]),
                  helper.make_node("Concat", [f"n{i}u", "no", "minus1"], [f"shape{i}"], axis=0),
                  helper.make_node("Reshape", [f"y{i}", f"shape{i}"], [f"flat{i}"])]
        flats.append(f"flat{i}")
        stride = 64 // (h * 1) if h else 1
        ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
        anchors.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(h * w, stride, np.float32))
    inits += [_init("zero", np.array(0, np.int64)), _init("axes0", np.array([0], np.int64)),
              _init("no", np.array([no], np.int64)), _init("minus1", np.array([-1], np.int64)),
              _init("split", np.array([4 * reg_max, nc], np.int64)),
              _init("dfl_shape", np.array([0, 4, reg_max, -1], np.int64)),
              _init("dfl_w", np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1)),
              _init("box_shape", np.array([0, 4, -1], np.int64)),
              _init("anchors", np.concatenate(anchors, 1).astype(np.float32)[None]),
              _init("strides", np.concatenate(strides)[None, None]),
              _init("two", np.array(2.0, np.float32)),
              _init("s_lo", np.array([0], np.int64)), _init("s_mid", np.array([2], np.int64)),
              _init("s_hi", np.array([4], np.int64)), _init("s_axis", np.array([1], np.int64))]
    nodes += [
        helper.make_node("Concat", flats, ["cat"], axis=2),
        helper.make_node("Split", ["cat", "split"], ["box", "cls"], axis=1),
        helper.make_node("Reshape", ["box", "dfl_shape"], ["dfl4"]),
        helper.make_node("Transpose", ["dfl4"], ["dflt"], perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["dflt"], ["dfls"], axis=1),
        helper.make_node("Conv", ["dfls", "dfl_w"], ["dflc"], kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["dflc", "box_shape"], ["dist"]),
        helper.make_node("Slice", ["dist", "s_lo", "s_mid", "s_axis"], ["lt"]),
        helper.make_node("Slice", ["dist", "s_mid", "s_hi", "s_axis"], ["rb"]),
        helper.make_node("Sub", ["anchors", "lt"], ["x1y1"]),
        helper.make_node("Add", ["anchors", "rb"], ["x2y2"]),
        helper.make_node("Add", ["x1y1", "x2y2"], ["csum"]),
        helper.make_node("Div", ["csum", "two"], ["cxy"]),
        helper.make_node("Sub", ["x2y2", "x1y1"], ["wh"]),
        helper.make_node("Concat", ["cxy", "wh"], ["dbox"], axis=1),
        helper.make_node("Mul", ["dbox", "strides"], ["boxes"]),
        helper.make_node("Sigmoid", ["cls"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + nc, "anchors"])
    graph = helper.make_graph(nodes, "yolov8_head", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("batch", [1, 2])
def test_yolov8_head_matches_onnxruntime(batch):
    model = yolov8_head()
    rng = np.random.default_rng(batch)
    feeds = {i.name: rng.standard_normal([batch] + [d.dim_value for d in i.type.tensor_type.shape.dim[1:]]
                                         ).astype(np.float32) for i in model.graph.input}
    _check(model, feeds)


def test_shape_tensor_fed_at_run_time_keys_the_plan():
    """A Reshape target given as a graph input: the plan depends on its value, and a new value re-plans."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    y = helper.make_empty_tensor_value_info("y")
    g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Relu", ["r"], ["y"])],
                          "reshape_input", [x, shape], [y])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    rep = JitmnnBackend.prepare(model)
    data = np.arange(-12, 12, dtype=np.float32).reshape(2, 3, 4)
    for target in ([6, 4], [4, -1], [6, 4], [24, 1]):
        (out,) = rep.run([data, np.array(target, np.int64)])
        np.testing.assert_array_equal(out, np.maximum(data, 0).reshape(target))
    assert rep.module._root.keyed == {"shape"}
    assert len(rep.module._root.plans) == 3  # one plan per distinct target value


def test_data_dependent_node_splits_the_plan():
    """NonZero's output length depends on the data: the plan stops after it and the rest is planned per
    length; explain() shows the segments."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])
    y = helper.make_empty_tensor_value_info("y")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("NonZero", ["r"], ["nz"]),
             helper.make_node("Squeeze", ["nz", "ax"], ["idx"]), helper.make_node("Gather", ["x", "idx"], ["g"]),
             helper.make_node("Mul", ["g", "g"], ["y"])]
    g = helper.make_graph(nodes, "nonzero", [x], [y], [_init("ax", np.array([0], np.int64))])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    rep = JitmnnBackend.prepare(model)
    for data in ([1, -2, 3, 0, 5], [-1, -1, 2, -3, -4], [1, 2, 3, 4, 5]):
        data = np.array(data, np.float32)
        (out,) = rep.run([data])
        np.testing.assert_array_equal(out, data[data > 0] ** 2)
    text = str(rep.module.explain())
    assert "segment" in text and "NonZero" in text


def test_float_division_by_zero_gives_inf_not_an_exception():
    """The elementwise kernel raised ZeroDivisionError (Numba's Python error model) on x / 0."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3])
    y = helper.make_empty_tensor_value_info("y")
    model = helper.make_model(helper.make_graph([helper.make_node("Div", ["a", "b"], ["y"])], "div", [a, b], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    x = np.array([[1, -1, 0], [2, 3, 4]], np.float32)
    z = np.array([[0, 0, 0], [1, 2, 0]], np.float32)
    (out,) = JitmnnBackend.prepare(model).run([x, z])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(out, x / z)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # onnx's test generators cast out-of-range values on import
@pytest.mark.parametrize("name", ["test_loop11", "test_scan9_sum", "test_if", "test_nonmaxsuppression_two_batches",
                                  "test_reshape_extended_dims", "test_unique_sorted_with_axis",
                                  "test_flexattention_score_mod"])
def test_dynamic_graphs_survive_the_jmnn_file(name, tmp_path):
    """Subgraph bodies, shape tensors fed at run time and data-dependent ops go through convert -> .jmnn ->
    load -> run as through the in-memory backend (attributes are JSON in the file header)."""
    import jitmnn
    from onnx.backend.test.loader import load_model_tests
    from onnx.backend.test.runner import _normalize_tensor

    case = next(c for c in load_model_tests(kind="node") if c.name == name)
    src = tmp_path / "m.onnx"
    onnx.save(case.model, str(src))
    jitmnn.convert(str(src), str(tmp_path / "m.jmnn"))
    m = jitmnn.load(str(tmp_path / "m.jmnn"))
    inputs, expected = case.data_sets[0]
    outs = m.run(dict(zip(m.input_names, [_normalize_tensor(x) for x in inputs])))
    for out_name, want in zip(m.output_names, expected):
        want = _normalize_tensor(want)
        assert outs[out_name].shape == want.shape and outs[out_name].dtype == want.dtype
        np.testing.assert_allclose(outs[out_name], want, rtol=case.rtol, atol=case.atol)


@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Sqrt", "Softmax", "Clip", "MaxPool"])
def test_nan_and_inf_inputs_pass_through_as_in_onnxruntime(op):
    """Non-finite inputs are not refused (attention masks hold -inf) and the compiled kernels (fastmath is on)
    give ONNX Runtime's NaN pattern and values."""
    x = np.array([[[[np.nan, -1, 2, np.inf], [-np.inf, 0.5, 3, -2]]]], np.float32)
    attrs = {"kernel_shape": [1, 2], "strides": [1, 2]} if op == "MaxPool" else {}
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    model = helper.make_model(
        helper.make_graph([node], "nan", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                          [helper.make_empty_tensor_value_info("y")]),
        opset_imports=[helper.make_opsetid("", 13)])
    (got,) = JitmnnBackend.prepare(model).run([x])
    (want,) = _ort_run(model, {"x": x})
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(want), rtol=1e-6)
