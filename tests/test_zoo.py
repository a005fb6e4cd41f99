"""Fast checks of the model zoo and the ONNX exporter: builders are deterministic and well-formed, the
exported ONNX computes what the graph means (checked against a plain-numpy forward written here, not
against ourselves), fused activations expand correctly, and tiny_cnn goes ONNX -> .jmnn -> jitmnn and
matches ONNX Runtime."""

from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pytest

from jitmnn.graph import Graph, Node, TensorInfo
from jitmnn.models import EXTRA, ZOO, entry, ppocr, sample_input, zoo
from tests.tolerances import F32, MODEL_VS_ORT, rel_err

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

HAVE_CONVERTER = importlib.util.find_spec("jitmnn.converter.api") is not None


def _ort_run(model_or_path, feeds: dict):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    src = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else model_or_path
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


# ----- a plain-numpy forward of the ops the zoo builders emit (float64, loops over the kernel window) ----
def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    co, cig, kh, kw = w.shape
    (sh, sw), (dh, dw), g = a["strides"], a["dilations"], a["group"]
    pt, pl, pb, pr = a["pads"]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, co, oh, ow))
    cog = co // g
    for gi in range(g):
        xs = xp[:, gi * cig:(gi + 1) * cig]
        ws = w[gi * cog:(gi + 1) * cog]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, gi * cog:(gi + 1) * cog] += np.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _maxpool(x, a):
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel_shape"], a["strides"], a["pads"]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    oh = (x.shape[2] + pt + pb - kh) // sh + 1
    ow = (x.shape[3] + pl + pr - kw) // sw + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
    return out


def numpy_forward(g: Graph, x: np.ndarray) -> np.ndarray:
    v = {k: np.asarray(c, dtype=np.float64) for k, c in g.constants.items()}
    v[g.inputs[0].name] = x.astype(np.float64)
    for n in g.nodes:
        i = [v[name] if name else None for name in n.inputs]
        a = n.attrs
        if n.op == "Conv":
            y = _conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif n.op == "BatchNormalization":
            x_, s, b, m, var = i
            r = (1, -1, 1, 1)
            y = (x_ - m.reshape(r)) / np.sqrt(var.reshape(r) + a["epsilon"]) * s.reshape(r) + b.reshape(r)
        elif n.op == "Relu":
            y = np.maximum(i[0], 0)
        elif n.op == "Clip":
            y = np.clip(i[0], i[1], i[2])
        elif n.op == "Add":
            y = i[0] + i[1]
        elif n.op == "MaxPool":
            y = _maxpool(i[0], a)
        elif n.op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif n.op == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif n.op == "Gemm":
            y = i[0] @ (i[1].T if a.get("transB") else i[1]) + i[2]
        else:
            raise NotImplementedError(n.op)
        v[n.outputs[0]] = y
    return v[g.outputs[0]]


# ----- builders ------------------------------------------------------------------------------------------
def test_tiny_cnn_builds_and_is_deterministic():
    g1, g2 = zoo.tiny_cnn(seed=3), zoo.tiny_cnn(seed=3)
    g1.validate()
    assert g1.inputs[0].name == "input" and g1.inputs[0].shape[0] is None
    assert g1.outputs == ["output"]
    ops = g1.op_counts()
    # exporter-shaped graph: a BN after every conv, ReLU6 as Clip, GAP -> Flatten -> Gemm head
    assert ops["BatchNormalization"] == ops["Conv"] == 5
    assert ops["Clip"] == 2 and ops["Gemm"] == 1 and ops["MaxPool"] == 1 and ops["Add"] == 1
    assert any(n.op == "Conv" and n.attrs["group"] > 1 for n in g1.nodes)
    for n in g1.nodes:
        if n.op == "Conv":
            assert set(n.attrs) >= {"kernel_shape", "strides", "pads", "dilations", "group"}
            assert len(n.attrs["pads"]) == 4
    assert set(g1.constants) == set(g2.constants)
    for k in g1.constants:
        assert np.array_equal(g1.constants[k], g2.constants[k]), k
    assert not np.array_equal(zoo.tiny_cnn(seed=4).constants["fc.weight"], g1.constants["fc.weight"])


def test_bn_statistics_make_folding_matter():
    g = zoo.tiny_cnn()
    bns = [n for n in g.nodes if n.op == "BatchNormalization"]
    scale = np.concatenate([g.constants[n.inputs[1]] / np.sqrt(g.constants[n.inputs[4]] + 1e-5) for n in bns])
    mean = np.concatenate([g.constants[n.inputs[3]] for n in bns])
    # folding rescales conv weights per channel by 0.5..1.8 and shifts by up to ~0.5: a bug cannot hide
    assert scale.min() < 0.7 and scale.max() > 1.3 and np.abs(mean).max() > 0.3


@pytest.mark.parametrize("name,params", [("resnet18", 11_699_112), ("mobilenet_v2", 3_538_984)])
def test_big_builders_have_the_published_size(name, params):
    g = zoo.BUILDERS[name]()
    g.validate()
    # torchvision's parameter counts (11,689,512 and 3,504,872) plus the 4 BN statistics vectors we also
    # count (running mean/var are buffers there) and the shared ReLU6 bounds.
    assert abs(zoo.parameter_count(g) - params) <= 2
    assert g.inputs[0].shape == (None, 3, 224, 224) and g.outputs == ["output"]


# ----- exporter ------------------------------------------------------------------------------------------
def test_exported_tiny_cnn_matches_numpy_forward():
    from jitmnn.converter.export import to_onnx

    g = zoo.tiny_cnn()
    model = to_onnx(g)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 13
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    x = sample_input("tiny_cnn", (2, 3, 19, 21))
    (got,) = _ort_run(model, {"input": x})
    ref = numpy_forward(g, x)
    assert got.shape == (2, 10)
    assert rel_err(got, ref) <= F32, rel_err(got, ref)


def _conv_graph(activation=None, params=None, hardswish_op=False):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((5, 3, 3, 3)) * 0.5).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    attrs = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 0, 1, 2], dilations=[1, 1], group=1)
    if activation:
        attrs.update(activation=activation, activation_params=list(params or [0.0, 0.0]))
    nodes = [Node("conv", "Conv", ["x", "w", "b"], ["y" if not hardswish_op else "c"], attrs)]
    if hardswish_op:
        nodes.append(Node("hs", "HardSwish", ["c"], ["y"]))
    g = Graph("t", nodes, [TensorInfo("x", (None, 3, 7, 9))], ["y"], {"w": w, "b": b})
    x = (rng.standard_normal((2, 3, 7, 9)) * 2).astype(np.float32)
    pre = _conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), attrs)
    return g, x, pre


ACTIVATIONS = {
    "relu": ((), lambda z: np.maximum(z, 0)),
    "clip": ((-0.5, 1.5), lambda z: np.clip(z, -0.5, 1.5)),
    "hardsigmoid": ((0.2, 0.5), lambda z: np.clip(0.2 * z + 0.5, 0, 1)),
    "hardswish": ((), lambda z: z * np.clip(z + 3, 0, 6) / 6),
    "sigmoid": ((), lambda z: 1 / (1 + np.exp(-z))),
    "silu": ((), lambda z: z / (1 + np.exp(-z))),
    "tanh": ((), np.tanh),
    "gelu": ((), lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))),
}


@pytest.mark.parametrize("opset", [13, 20])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_fused_activation_is_expanded(activation, opset):
    from jitmnn.converter.export import to_onnx

    params, fn = ACTIVATIONS[activation]
    g, x, pre = _conv_graph(activation, params or (0.0, 0.0))
    model = to_onnx(g, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops[0] == "Conv" and len(ops) >= 2
    assert all(a.name not in ("activation", "activation_params") for n in model.graph.node for a in n.attribute)
    (got,) = _ort_run(model, {"x": x})
    assert rel_err(got, fn(pre)) <= F32, (activation, opset, ops)


@pytest.mark.parametrize("opset", [13, 14])
def test_hardswish_op_is_exported(opset):
    from jitmnn.converter.export import to_onnx

    g, x, pre = _conv_graph(hardswish_op=True)
    model = to_onnx(g, opset=opset)
    ops = [n.op_type for n in model.graph.node]
    assert ("HardSwish" in ops) == (opset >= 14)
    (got,) = _ort_run(model, {"x": x})
    assert rel_err(got, pre * np.clip(pre + 3, 0, 6) / 6) <= F32


def test_save_onnx_round_trips(tmp_path):
    from jitmnn.converter.export import save_onnx

    g = zoo.tiny_cnn()
    path = save_onnx(g, str(tmp_path / "tiny.onnx"))
    m = onnx.load(path)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    for k, v in g.constants.items():
        assert np.array_equal(inits[k], v), k
    assert [n.name for n in m.graph.node] == [n.name for n in g.nodes]


# ----- registry and PP-OCR helpers -----------------------------------------------------------------------
def test_zoo_registry_shapes():
    assert set(ZOO) == {"resnet18", "resnet50", "mobilenet_v2", "ppocr_det", "ppocr_rec", "ppocr_cls"}
    assert ZOO["ppocr_det"].input_shape == (1, 3, 640, 640)
    assert ZOO["ppocr_rec"].input_shape == (1, 3, 48, 320)
    assert ZOO["ppocr_cls"].input_shape == (1, 3, 48, 192)
    assert "tiny_cnn" in EXTRA and entry("tiny_cnn").builder is zoo.tiny_cnn
    with pytest.raises(KeyError, match="unknown model"):
        entry("resnet19")


def test_ppocr_paths_or_clear_error(monkeypatch):
    if importlib.util.find_spec(ppocr.PACKAGE) is not None:
        for name in ("det", "rec", "cls"):
            path = ppocr.ppocr_model_path(name)
            assert os.path.isfile(path) and path.endswith(ppocr.MODEL_FILES[name])
    with pytest.raises(ValueError, match="det"):
        ppocr.ppocr_model_path("layout")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ppocr.PPOCRModelNotFound, match=r"pip install --no-deps rapidocr-onnxruntime==1\.4\.4"):
        ppocr.ppocr_model_path("det")


def test_text_like_page():
    page = ppocr.text_like_page(160, 200, seed=5, normalisation=None)
    assert page.shape == (160, 200, 3) and page.dtype == np.uint8
    dark = (page.mean(axis=2) < 128).mean()
    assert 0.02 < dark < 0.3  # strokes, not a blank or a black page
    assert np.median(page) > 180  # light background
    x = ppocr.text_like_page(160, 200, seed=5)
    assert x.shape == (1, 3, 160, 200) and x.dtype == np.float32
    np.testing.assert_array_equal(x, ppocr.text_like_page(160, 200, seed=5))
    mean, std = np.array(ppocr.IMAGENET_MEAN), np.array(ppocr.IMAGENET_STD)
    expect = ((page / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x, expect, rtol=1e-6, atol=1e-6)
    half = ppocr.text_like_page(160, 200, seed=5, normalisation="rapidocr")
    assert -1.0 <= half.min() and half.max() <= 1.0


def test_sample_inputs():
    assert sample_input("ppocr_det", (2, 3, 64, 96)).shape == (2, 3, 64, 96)
    r = sample_input("ppocr_rec")
    assert r.shape == (1, 3, 48, 320) and r.dtype == np.float32 and -1 <= r.min() and r.max() <= 1


# ----- end to end: ONNX -> .jmnn -> jitmnn vs ORT ------------------------------------------------------
@pytest.mark.skipif(not HAVE_CONVERTER, reason="jitmnn.converter.api (the ONNX converter) has not landed yet")
@pytest.mark.parametrize("batch", [1, 2])
def test_tiny_cnn_converts_and_matches_ort(tmp_path, batch):
    import jitmnn
    from jitmnn.models import prepare_model

    onnx_file, jmnn_file = prepare_model("tiny_cnn", str(tmp_path))
    x = sample_input("tiny_cnn", (batch, 3, 19, 21), seed=batch)
    (ref,) = _ort_run(onnx_file, {"input": x})
    m = jitmnn.load(jmnn_file, num_threads=1)
    got = m.run({"input": x})["output"]
    err = rel_err(got, ref)
    assert err <= MODEL_VS_ORT, f"max|diff|/max|ref| = {err:.3g}\n{m.explain()}"
    # BN was folded away by the converter (nothing left to run per BN layer)
    assert "BatchNormalization" not in {n.op for n in m._model.graph.nodes}


@pytest.mark.skipif(not HAVE_CONVERTER, reason="jitmnn.converter.api (the ONNX converter) has not landed yet")
@pytest.mark.parametrize("options", [{}, {"weight_quant_bits": 8}])
def test_converted_graph_exports_back(tmp_path, options):
    """The converter's output graph (BN folded, activations fused, weights maybe compressed) exported back
    to ONNX still computes the original model in ORT: converter passes checked without our kernels."""
    from jitmnn import format as jformat
    from jitmnn.converter.export import to_onnx
    from jitmnn.models import prepare_model

    onnx_file, jmnn_file = prepare_model("tiny_cnn", str(tmp_path), **options)
    g = jformat.load(jmnn_file)
    assert "BatchNormalization" not in g.op_counts()
    x = sample_input("tiny_cnn", (2, 3, 19, 21))
    (ref,) = _ort_run(onnx_file, {"input": x})
    (got,) = _ort_run(to_onnx(g), {"input": x})
    tol = MODEL_VS_ORT if not options else 2e-2  # int8 weights: tests/tolerances.INT8
    assert rel_err(got, ref) <= tol


def _single_op_graph(op, attrs, x, consts):
    names = ["x"] + list(consts)
    return Graph("t", [Node("n", op, names, ["y"], attrs)], [TensorInfo("x", (None,) + x.shape[1:])], ["y"],
                 dict(consts))


NEWER_OP_CASES = {
    "layernorm": ("LayerNormalization", {"axis": -1, "epsilon": 1e-5},
                  {"s": np.linspace(0.5, 1.5, 9, dtype=np.float32), "b": np.linspace(-1, 1, 9, dtype=np.float32)},
                  lambda x, c: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
                  * c["s"] + c["b"]),
    "layernorm_2axes": ("LayerNormalization", {"axis": -2, "epsilon": 1e-3},
                        {"s": np.full((7, 9), 2.0, np.float32)},
                        lambda x, c: (x - x.mean((-2, -1), keepdims=True))
                        / np.sqrt(x.var((-2, -1), keepdims=True) + 1e-3) * 2.0),
    "gelu": ("Gelu", {}, {}, lambda x, c: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    "gelu_tanh": ("Gelu", {"approximate": "tanh"}, {},
                  lambda x, c: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    "mish": ("Mish", {}, {}, lambda x, c: x * np.tanh(np.log1p(np.exp(x)))),
}


@pytest.mark.parametrize("case", sorted(NEWER_OP_CASES))
def test_ops_newer_than_opset_13_are_expanded(case):
    from jitmnn.converter.export import to_onnx

    op, attrs, consts, fn = NEWER_OP_CASES[case]
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 9)).astype(np.float32)
    model = to_onnx(_single_op_graph(op, attrs, x, consts), opset=13)
    assert op not in [n.op_type for n in model.graph.node]
    (got,) = _ort_run(model, {"x": x})
    assert rel_err(got, fn(x.astype(np.float64), consts)) <= F32, case


def test_attributes_newer_than_the_opset_are_dropped_only_at_default():
    from jitmnn.converter.export import to_onnx

    x = np.random.default_rng(3).standard_normal((2, 3, 7, 9)).astype(np.float32)
    shape = np.array([2, -1], np.int64)
    model = to_onnx(_single_op_graph("Reshape", {"allowzero": 0}, x, {"shape": shape}))
    assert not model.graph.node[0].attribute
    (got,) = _ort_run(model, {"x": x})
    np.testing.assert_array_equal(got, x.reshape(2, -1))
    pool = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "dilations": [1, 1], "ceil_mode": 0,
            "count_include_pad": 0}
    model = to_onnx(_single_op_graph("AveragePool", pool, x, {}))
    assert "dilations" not in {a.name for a in model.graph.node[0].attribute}
    _ort_run(model, {"x": x})
    with pytest.raises(ValueError, match="opset"):
        to_onnx(_single_op_graph("AveragePool", {**pool, "dilations": [2, 2]}, x, {}))
