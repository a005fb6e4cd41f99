"""The ONNX converter: per-op import (defaults, opset upgrades), the passes (structure and numerics against
ONNX Runtime on the same ONNX model), error reporting, and the real PP-OCR models.

Numerical checks run the converted graph on jitmnn's runtime; while an op's runtime implementation is not
registered yet, that test skips and names the missing ops."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import jitmnn  # noqa: E402
from jitmnn.converter import api, passes  # noqa: E402
from jitmnn.converter.checks import unsupported_ops  # noqa: E402
from jitmnn.converter.onnx_import import CONVERTERS, import_onnx  # noqa: E402
from jitmnn.converter.passes import run_passes  # noqa: E402
from jitmnn.errors import ConversionError, UnsupportedOpError  # noqa: E402
from tests.tolerances import WINOGRAD_F43, rel_err  # noqa: E402

# Converted graph vs ONNX Runtime: folded weights are re-rounded to fp32 once (~1e-7 relative) and the
# runtime may pick Winograd F(4,3) for a 3x3 conv, whose error tier bounds the difference.
CONVERTED_VS_ORT = WINOGRAD_F43


# ----- helpers --------------------------------------------------------------------------------------------

def make_model(nodes, inputs, outputs, inits=(), opset=13):
    """inputs/outputs: {name: shape}; inits: {name: array}. IR version 7/8 so ORT 1.x loads it."""
    vin = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()]
    vout = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()]
    g = helper.make_graph(nodes, "test", vin, vout,
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7 if opset < 13 else 8
    return m


def ort_run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def require_runtime(graph):
    missing = unsupported_ops(graph)
    if missing:
        pytest.skip(f"runtime ops not registered yet: {sorted(missing)}")


def jit_run(graph, feeds, **settings):
    require_runtime(graph)
    m = jitmnn.from_graph(graph, **settings)
    return m.run(feeds)


def convert_graph(model):
    return run_passes(import_onnx(model, check_runtime=False))


def check_vs_ort(model, feeds, graph=None):
    graph = graph or convert_graph(model)
    ref = ort_run(model, feeds)
    got = jit_run(graph, feeds)
    for name, r in ref.items():
        err = rel_err(got[name], r)
        assert err <= CONVERTED_VS_ORT, f"output {name!r}: rel err {err:.2e} > {CONVERTED_VS_ORT}"
    return graph


def rng(seed=0):
    return np.random.default_rng(seed)


def f32(*shape, seed=0, lo=None, hi=None):
    r = rng(seed)
    if lo is not None:
        return r.uniform(lo, hi, shape).astype(np.float32)
    return r.standard_normal(shape).astype(np.float32)


def conv_inits(cout, cin, k=3, seed=0, bias=True, group=1):
    inits = {"W": f32(cout, cin // group, k, k, seed=seed) * np.float32(0.3)}
    if bias:
        inits["b"] = f32(cout, seed=seed + 1)
    return inits


def bn_inits(c, seed=10, prefix="bn"):
    return {f"{prefix}_g": f32(c, seed=seed), f"{prefix}_b": f32(c, seed=seed + 1),
            f"{prefix}_m": f32(c, seed=seed + 2), f"{prefix}_v": f32(c, seed=seed + 3, lo=0.5, hi=2.0)}


def bn_node(x, y, prefix="bn", eps=1e-3, name=None):
    return helper.make_node("BatchNormalization", [x, f"{prefix}_g", f"{prefix}_b", f"{prefix}_m", f"{prefix}_v"], [y],
                            epsilon=eps, name=name or prefix)


def ops(graph):
    return [n.op for n in graph.nodes]


# ----- BatchNormalization and activation fusion -----------------------------------------------------------

def test_conv_bn_relu_folds_into_one_conv():
    c = 13
    model = make_model(
        [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv"),
         bn_node("c", "bn_out"),
         helper.make_node("Relu", ["bn_out"], ["y"], name="relu")],
        {"x": [2, 3, 17, 18]}, {"y": None}, {**conv_inits(c, 3), **bn_inits(c)})
    g = convert_graph(model)
    assert ops(g) == ["Conv"]
    conv = g.nodes[0]
    assert conv.name == "conv" and conv.outputs == ["y"]
    assert conv.attrs["activation"] == "relu"
    assert conv.attrs["fused_from"] == ["bn", "relu"]
    assert not any(k.startswith("bn_") for k in g.constants), "BN parameters must be dropped"
    check_vs_ort(model, {"x": f32(2, 3, 17, 18, seed=5)}, g)


def test_bn_folds_into_biasless_grouped_conv():
    c = 6
    model = make_model(
        [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], group=3, name="conv"), bn_node("c", "y")],
        {"x": [1, 6, 7, 9]}, {"y": None}, {**conv_inits(c, 6, bias=False, group=3), **bn_inits(c)})
    g = convert_graph(model)
    assert ops(g) == ["Conv"] and len(g.nodes[0].inputs) == 3, "a bias input is created"
    check_vs_ort(model, {"x": f32(1, 6, 7, 9, seed=2)}, g)


def test_bn_folds_into_conv_transpose():
    cin, cout, grp = 4, 6, 2
    inits = {"W": f32(cin, cout // grp, 2, 2, seed=3), **bn_inits(cout)}
    model = make_model(
        [helper.make_node("ConvTranspose", ["x", "W"], ["c"], strides=[2, 2], group=grp, name="deconv"),
         bn_node("c", "r"), helper.make_node("Relu", ["r"], ["y"], name="relu")],
        {"x": [1, cin, 5, 7]}, {"y": None}, inits)
    g = convert_graph(model)
    assert ops(g) == ["ConvTranspose"] and g.nodes[0].attrs["activation"] == "relu"
    check_vs_ort(model, {"x": f32(1, cin, 5, 7, seed=4)}, g)


@pytest.mark.parametrize("cin,cout,group,stride,dilation,pads,act", [
    (3, 13, 1, 1, 1, [0, 1, 1, 0], "Relu"),  # asymmetric pads
    (17, 17, 17, 2, 1, [1, 1, 1, 1], "HardSigmoid"),  # depthwise, stride 2
    (6, 4, 2, 1, 2, [2, 2, 2, 2], "Sigmoid"),  # grouped, dilated
    (1, 3, 1, 2, 1, [0, 0, 0, 0], "Relu"),  # single input channel
])
def test_conv_bn_activation_fold_over_conv_geometries(cin, cout, group, stride, dilation, pads, act):
    inits = {**conv_inits(cout, cin, group=group, seed=cout), **bn_inits(cout, seed=cin)}
    model = make_model(
        [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=pads, strides=[stride] * 2, dilations=[dilation] * 2,
                          group=group, name="conv"),
         bn_node("c", "bn_out"), helper.make_node(act, ["bn_out"], ["y"], name="act")],
        {"x": [2, cin, 17, 18]}, {"y": None}, inits)
    g = convert_graph(model)
    assert ops(g) == ["Conv"] and g.nodes[0].attrs["fused_from"] == ["bn", "act"]
    check_vs_ort(model, {"x": f32(2, cin, 17, 18, seed=1)}, g)


def test_bn_not_folded_when_conv_output_has_another_consumer():
    c = 3
    model = make_model(
        [helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv"), bn_node("c", "y"),
         helper.make_node("Relu", ["c"], ["z"], name="relu")],
        {"x": [1, 3, 5, 5]}, {"y": None, "z": None}, {**conv_inits(c, 3, k=1), **bn_inits(c)})
    g = convert_graph(model)
    assert "BatchNormalization" in ops(g) and "Relu" in ops(g)
    assert "activation" not in g.nodes[0].attrs


def test_activation_not_fused_when_conv_output_is_graph_output():
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv"),
                        helper.make_node("Relu", ["c"], ["y"], name="relu")],
                       {"x": [1, 3, 5, 5]}, {"c": None, "y": None}, conv_inits(4, 3, k=1))
    g = convert_graph(model)
    assert ops(g) == ["Conv", "Relu"] and "activation" not in g.nodes[0].attrs


@pytest.mark.parametrize("lo,hi,expect", [(0.0, 6.0, ("clip", [0.0, 6.0])), (0.0, None, ("relu", [0.0, 0.0])),
                                          (-1.0, 1.0, ("clip", [-1.0, 1.0]))])
def test_clip_with_constant_bounds_fuses(lo, hi, expect):
    inits = {**conv_inits(5, 3, k=1), "lo": np.float32(lo)}
    ins = ["c", "lo"]
    if hi is not None:
        inits["hi"] = np.float32(hi)
        ins.append("hi")
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv"),
                        helper.make_node("Clip", ins, ["y"], name="clip")],
                       {"x": [1, 3, 4, 5]}, {"y": None}, inits)
    g = convert_graph(model)
    assert ops(g) == ["Conv"]
    assert (g.nodes[0].attrs["activation"], g.nodes[0].attrs["activation_params"]) == expect
    check_vs_ort(model, {"x": f32(1, 3, 4, 5, seed=1) * 4}, g)


def test_clip_with_runtime_bound_is_not_fused():
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv"),
                        helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0, name="mx"),
                        helper.make_node("Clip", ["c", "", "m"], ["y"], name="clip")],
                       {"x": [1, 3, 4, 5]}, {"y": None}, conv_inits(5, 3, k=1))
    g = convert_graph(model)
    assert "Clip" in ops(g) and "activation" not in g.nodes[0].attrs


@pytest.mark.parametrize("act,attrs,name", [("Sigmoid", {}, "sigmoid"), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4},
                                            "hardsigmoid"), ("HardSwish", {}, "hardswish"), ("Tanh", {}, "tanh")])
def test_other_activations_fuse_into_conv(act, attrs, name):
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
                        helper.make_node(act, ["c"], ["y"], name="act", **attrs)],
                       {"x": [1, 3, 7, 9]}, {"y": None}, conv_inits(4, 3), opset=14)
    g = convert_graph(model)
    assert ops(g) == ["Conv"] and g.nodes[0].attrs["activation"] == name
    if act == "HardSigmoid":
        assert g.nodes[0].attrs["activation_params"] == pytest.approx([0.3, 0.4])
    check_vs_ort(model, {"x": f32(1, 3, 7, 9, seed=6) * 3}, g)


def test_silu_pattern_fuses_into_conv():
    # PP-OCRv4 rec: BN -> Mul(x, 1.0) -> Sigmoid; Mul(x, Sigmoid): the x1.0 is dropped, BN folded, SiLU fused.
    c = 4
    model = make_model(
        [helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv"), bn_node("c", "bn_out"),
         helper.make_node("Mul", ["bn_out", "one"], ["s_in"], name="times_one"),
         helper.make_node("Sigmoid", ["s_in"], ["s"], name="sig"),
         helper.make_node("Mul", ["bn_out", "s"], ["y"], name="swish")],
        {"x": [1, 3, 6, 5]}, {"y": None}, {**conv_inits(c, 3, k=1), **bn_inits(c), "one": np.ones(1, np.float32)})
    g = convert_graph(model)
    assert ops(g) == ["Conv"] and g.nodes[0].attrs["activation"] == "silu"
    check_vs_ort(model, {"x": f32(1, 3, 6, 5, seed=7)}, g)


def test_matmul_and_gemm_take_fused_activations():
    model = make_model([helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
                        helper.make_node("Relu", ["m"], ["y"], name="relu"),
                        helper.make_node("Gemm", ["x2", "W2", "b2"], ["g"], transB=1, name="gemm"),
                        helper.make_node("Sigmoid", ["g"], ["z"], name="sig")],
                       {"x": [2, 5, 7], "x2": [3, 7]}, {"y": None, "z": None},
                       {"W": f32(7, 6, seed=1), "W2": f32(4, 7, seed=2), "b2": f32(4, seed=3)})
    g = convert_graph(model)
    assert ops(g) == ["MatMul", "Gemm"]
    assert [n.attrs["activation"] for n in g.nodes] == ["relu", "sigmoid"]
    check_vs_ort(model, {"x": f32(2, 5, 7, seed=4), "x2": f32(3, 7, seed=5)}, g)


# ----- affine folding and HardSwish recognition -----------------------------------------------------------

def test_learnable_affine_after_conv_folds_then_hardswish_fuses():
    # PP-OCRv4's pattern: conv -> Mul(a) -> Add(b) -> x*Clip(x+3,0,6)/6 (a, b one-element constants).
    c = 5
    inits = {**conv_inits(c, 3), "a": np.array([0.9], np.float32), "bb": np.array([0.5], np.float32),
             "three": np.float32(3), "zero": np.float32(0), "six": np.float32(6),
             "chan": f32(1, c, 1, 1, seed=9)}
    model = make_model(
        [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
         helper.make_node("Mul", ["a", "c"], ["m"], name="scale"),
         helper.make_node("Add", ["m", "bb"], ["t"], name="shift"),
         helper.make_node("Add", ["t", "chan"], ["u"], name="chan_bias"),
         helper.make_node("Add", ["u", "three"], ["u3"], name="hs_add"),
         helper.make_node("Clip", ["u3", "zero", "six"], ["cl"], name="hs_clip"),
         helper.make_node("Mul", ["u", "cl"], ["mc"], name="hs_mul"),
         helper.make_node("Div", ["mc", "six"], ["y"], name="hs_div")],
        {"x": [1, 3, 7, 9]}, {"y": None}, inits)
    g = convert_graph(model)
    assert ops(g) == ["Conv"]
    conv = g.nodes[0]
    assert conv.attrs["activation"] == "hardswish"
    assert conv.attrs["fused_from"] == ["scale", "shift", "chan_bias", "hs_div", "hs_mul", "hs_clip", "hs_add"]
    check_vs_ort(model, {"x": f32(1, 3, 7, 9, seed=8) * 2}, g)


def test_affine_with_non_channel_broadcast_is_not_folded():
    # A [W]-shaped constant scales the last axis, not channels: it must stay a Mul.
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv"),
                        helper.make_node("Mul", ["c", "v"], ["y"], name="mul")],
                       {"x": [1, 3, 5, 4]}, {"y": None}, {**conv_inits(4, 3, k=1), "v": f32(4, seed=2)})
    assert ops(convert_graph(model)) == ["Conv", "Mul"]


HS_CONSTS = {"three": np.float32(3), "zero": np.float32(0), "six": np.float32(6),
             "sixth": np.float32(1 / 6)}


def _hardswish_nodes(form, x="x", y="y"):
    if form == "hardsigmoid":
        return [helper.make_node("HardSigmoid", [x], ["h"], alpha=1 / 6, beta=0.5, name="hsig"),
                helper.make_node("Mul", [x, "h"], [y], name="end")]
    pre = [helper.make_node("Add", [x, "three"], ["a"], name="add3"),
           helper.make_node("Clip", ["a", "zero", "six"], ["c"], name="relu6")]
    if form == "div6":
        return pre + [helper.make_node("Mul", [x, "c"], ["m"], name="mul"),
                      helper.make_node("Div", ["m", "six"], [y], name="end")]
    if form == "mul_sixth":
        return pre + [helper.make_node("Mul", ["c", x], ["m"], name="mul"),
                      helper.make_node("Mul", ["sixth", "m"], [y], name="end")]
    if form == "scaled_clip":
        return pre + [helper.make_node("Div", ["c", "six"], ["d"], name="div"),
                      helper.make_node("Mul", [x, "d"], [y], name="end")]
    raise ValueError(form)


@pytest.mark.parametrize("form", ["hardsigmoid", "div6", "mul_sixth", "scaled_clip"])
def test_hardswish_patterns_recognised_standalone(form):
    model = make_model(_hardswish_nodes(form), {"x": [2, 3, 5, 4]}, {"y": None}, HS_CONSTS)
    g = convert_graph(model)
    assert ops(g) == ["HardSwish"]
    assert g.nodes[0].name == "end" and g.nodes[0].inputs == ["x"] and g.nodes[0].outputs == ["y"]
    check_vs_ort(model, {"x": f32(2, 3, 5, 4, seed=3) * 4}, g)


@pytest.mark.parametrize("form", ["hardsigmoid", "div6", "mul_sixth", "scaled_clip"])
def test_hardswish_patterns_fuse_into_conv(form):
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["t"], pads=[1, 1, 1, 1], name="conv"),
                        *_hardswish_nodes(form, x="t")],
                       {"x": [1, 3, 6, 7]}, {"y": None}, {**HS_CONSTS, **conv_inits(4, 3)})
    g = convert_graph(model)
    assert ops(g) == ["Conv"] and g.nodes[0].attrs["activation"] == "hardswish"
    assert "end" in g.nodes[0].attrs["fused_from"]
    check_vs_ort(model, {"x": f32(1, 3, 6, 7, seed=3) * 3}, g)


def test_hardsigmoid_with_other_alpha_or_other_input_is_not_hardswish():
    # Squeeze-excite: x * HardSigmoid(y) (PP-OCR), and alpha=0.2 (ONNX default): neither is HardSwish.
    model = make_model([helper.make_node("HardSigmoid", ["z"], ["h"], alpha=1 / 6, beta=0.5, name="se"),
                        helper.make_node("Mul", ["x", "h"], ["y"], name="scale"),
                        helper.make_node("HardSigmoid", ["x"], ["h2"], name="default_alpha"),
                        helper.make_node("Mul", ["x", "h2"], ["y2"], name="scale2")],
                       {"x": [1, 3, 4, 4], "z": [1, 3, 1, 1]}, {"y": None, "y2": None})
    g = convert_graph(model)
    assert "HardSwish" not in ops(g)


def test_hardswish_not_recognised_when_intermediate_is_shared():
    nodes = _hardswish_nodes("div6") + [helper.make_node("Relu", ["c"], ["other"], name="reuse")]
    model = make_model(nodes, {"x": [1, 2, 3, 3]}, {"y": None, "other": None}, HS_CONSTS)
    assert "HardSwish" not in ops(convert_graph(model))


def _layernorm_nodes(x="x", y="y", square="pow"):
    sq = (helper.make_node("Pow", ["d", "two"], ["p"], name="pow") if square == "pow"
          else helper.make_node("Mul", ["d", "d"], ["p"], name="sq"))
    return [helper.make_node("ReduceMean", [x], ["m"], axes=[-1], name="mean"),
            helper.make_node("Sub", [x, "m"], ["d"], name="sub"), sq,
            helper.make_node("ReduceMean", ["p"], ["v"], axes=[-1], name="var"),
            helper.make_node("Add", ["v", "eps"], ["e"], name="add_eps"),
            helper.make_node("Sqrt", ["e"], ["s"], name="sqrt"),
            helper.make_node("Div", ["d", "s"], ["n"], name="div"),
            helper.make_node("Mul", ["n", "gamma"], ["gn"], name="scale"),
            helper.make_node("Add", ["gn", "beta"], [y], name="shift")]


@pytest.mark.parametrize("square", ["pow", "mul"])
def test_decomposed_layernorm_recognised(square):
    c = 17
    inits = {"two": np.float32(2), "eps": np.float32(1e-6), "gamma": f32(c, seed=1), "beta": f32(c, seed=2)}
    model = make_model(_layernorm_nodes(square=square), {"x": [2, 7, c]}, {"y": None}, inits)
    g = convert_graph(model)
    require_runtime(g)
    assert ops(g) == ["LayerNormalization"]
    ln = g.nodes[0]
    assert ln.name == "shift" and ln.inputs == ["x", "gamma", "beta"]
    assert ln.attrs["axis"] == -1 and ln.attrs["epsilon"] == pytest.approx(1e-6)
    check_vs_ort(model, {"x": f32(2, 7, c, seed=3) * 3 + 1}, g)


def test_layernorm_not_recognised_over_other_axis():
    c = 5
    nodes = _layernorm_nodes()
    nodes[0] = helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], name="mean")
    inits = {"two": np.float32(2), "eps": np.float32(1e-6), "gamma": f32(c, seed=1), "beta": f32(c, seed=2)}
    model = make_model(nodes, {"x": [2, 3, c]}, {"y": None}, inits)
    assert "LayerNormalization" not in ops(convert_graph(model))


@pytest.mark.parametrize("pads,shift,folds", [([0, 0, 0, 0], 0.3, True), ([1, 1, 1, 1], 0.0, True),
                                              ([1, 1, 1, 1], 0.3, False)])
def test_scalar_affine_folds_into_next_conv_only_when_exact(pads, shift, folds):
    # PP-OCRv4: hardswish(conv) * a + b -> next conv. With zero padding the fold is exact only if b == 0.
    inits = {**conv_inits(4, 3), "W2": f32(5, 4, 3, 3, seed=4), "b2": f32(5, seed=5),
             "a": np.array([0.7], np.float32), "sh": np.array([shift], np.float32)}
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1], name="conv1"),
                        helper.make_node("Relu", ["c"], ["r"], name="relu"),
                        helper.make_node("Mul", ["a", "r"], ["m"], name="aff_mul"),
                        helper.make_node("Add", ["m", "sh"], ["t"], name="aff_add"),
                        helper.make_node("Conv", ["t", "W2", "b2"], ["y"], pads=pads, name="conv2")],
                       {"x": [1, 3, 7, 8]}, {"y": None}, inits)
    g = convert_graph(model)
    if folds:
        assert ops(g) == ["Conv", "Conv"]
        assert g.nodes[1].inputs[0] == g.nodes[0].outputs[0]
        assert g.nodes[1].attrs["fused_from"] == ["aff_mul", "aff_add"]
    else:
        assert ops(g) == ["Conv", "Mul", "Add", "Conv"]
    check_vs_ort(model, {"x": f32(1, 3, 7, 8, seed=6)}, g)


GELU_CONSTS = {"half": np.float32(0.5), "one": np.float32(1.0), "sqrt2": np.float32(np.sqrt(2)),
               "inv_sqrt2": np.float32(1 / np.sqrt(2))}


def _gelu_nodes(form, x="x", y="y"):
    scale = (helper.make_node("Div", [x, "sqrt2"], ["z"], name="scale") if form.endswith("div")
             else helper.make_node("Mul", [x, "inv_sqrt2"], ["z"], name="scale"))
    core = [scale, helper.make_node("Erf", ["z"], ["e"], name="erf"),
            helper.make_node("Add", ["e", "one"], ["a"], name="add1")]
    if form.startswith("half_last"):
        return core + [helper.make_node("Mul", [x, "a"], ["m"], name="mul_x"),
                       helper.make_node("Mul", ["m", "half"], [y], name="end")]
    return core + [helper.make_node("Mul", ["half", x], ["h"], name="half_x"),
                   helper.make_node("Mul", ["h", "a"], [y], name="end")]


@pytest.mark.parametrize("form", ["half_last_div", "half_last_mul", "half_first_div", "half_first_mul"])
def test_gelu_erf_form_recognised_and_fused(form):
    model = make_model(_gelu_nodes(form), {"x": [2, 5, 6]}, {"y": None}, GELU_CONSTS)
    g = convert_graph(model)
    require_runtime(g)
    assert ops(g) == ["Gelu"] and g.nodes[0].name == "end" and g.nodes[0].inputs == ["x"]
    check_vs_ort(model, {"x": f32(2, 5, 6, seed=1) * 3}, g)
    fused = make_model([helper.make_node("MatMul", ["x", "W"], ["t"], name="mm"), *_gelu_nodes(form, x="t")],
                       {"x": [2, 5, 6]}, {"y": None}, {**GELU_CONSTS, "W": f32(6, 7, seed=2)})
    g = convert_graph(fused)
    assert ops(g) == ["MatMul"] and g.nodes[0].attrs["activation"] == "gelu"
    check_vs_ort(fused, {"x": f32(2, 5, 6, seed=3)}, g)


# ----- constant folding, identities, dead code -----------------------------------------------------------

def test_constant_folding_and_dead_code():
    model = make_model(
        [helper.make_node("Add", ["c1", "c2"], ["s"], name="fold_me"),
         helper.make_node("Sqrt", ["s"], ["r"], name="fold_me_too"),
         helper.make_node("Mul", ["x", "r"], ["y"], name="keep"),
         helper.make_node("Exp", ["x"], ["unused"], name="dead")],
        {"x": [2, 3]}, {"y": None},
        {"c1": np.array([1, 2, 3], np.float32), "c2": np.array([3, 2, 1], np.float32),
         "never": np.zeros(4, np.float32)})
    log = {}
    g = run_passes(import_onnx(model, check_runtime=False), log)
    require_runtime(g)
    assert ops(g) == ["Mul"]
    np.testing.assert_array_equal(g.constants["r"], np.full(3, 2.0, np.float32))
    assert set(g.constants) == {"r"}
    assert any("fold_me_too" in line for line in log["fold_constants"])
    assert any("'dead'" in line for line in log["remove_dead_nodes"])
    check_vs_ort(model, {"x": f32(2, 3, seed=1)}, g)


def test_folding_that_would_create_a_huge_tensor_is_skipped(monkeypatch, tmp_path):
    model = make_model([helper.make_node("Mul", ["col", "row"], ["big"], name="outer"),
                        helper.make_node("Add", ["x", "big"], ["y"], name="add")],
                       {"x": [1, 1]}, {"y": None},
                       {"col": np.ones((600, 1), np.float32), "row": np.ones((1, 600), np.float32)})
    monkeypatch.setattr(passes, "FOLD_MAX_BYTES", 1 << 16)
    log = {}
    g = run_passes(import_onnx(model, check_runtime=False), log)
    require_runtime(g)
    assert ops(g) == ["Mul", "Add"] and "big" not in g.constants
    assert any("would store" in line for line in log["fold_constants"])
    report = jitmnn.convert(model, str(tmp_path / "m.jmnn"))
    assert any("outer" in w and "would store" in w for w in report["warnings"])


def test_identity_and_dropout_removed_output_names_kept():
    model = make_model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                        helper.make_node("Dropout", ["r"], ["d"], name="drop"),
                        helper.make_node("Identity", ["d"], ["y"], name="ident")],
                       {"x": [2, 3]}, {"y": None}, opset=11)
    g = convert_graph(model)
    assert ops(g) == ["Relu"] and g.nodes[0].outputs == ["y"] and g.outputs == ["y"]


# ----- import: defaults, opset upgrades, inputs/constants ------------------------------------------------

def test_conv_and_pool_defaults_filled():
    model = make_model([helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
                        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], name="pool"),
                        helper.make_node("Conv", ["p", "W2"], ["s"], auto_pad="SAME_UPPER", strides=[2, 2],
                                         name="same"),
                        helper.make_node("AveragePool", ["s"], ["y"], kernel_shape=[3, 3], auto_pad="SAME_LOWER",
                                         name="avg")],
                       {"x": [1, 3, 16, 16]}, {"y": None},
                       {"W": f32(4, 3, 3, 5), "W2": f32(4, 4, 4, 4)})
    g = import_onnx(model, check_runtime=False)
    conv, pool, same, avg = g.nodes
    assert conv.attrs == {"kernel_shape": [3, 5], "strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1],
                          "group": 1}
    assert pool.attrs == {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1],
                          "ceil_mode": 0}
    # x 16x16 -> conv 14x12 -> pool 13x11; SAME_UPPER stride 2, k 4: out 7x6, total pad 3 and 3, extra at the end.
    assert same.attrs["pads"] == [1, 1, 2, 2] and "auto_pad" not in same.attrs
    assert avg.attrs["pads"] == [1, 1, 1, 1] and avg.attrs["count_include_pad"] == 0
    check_vs_ort(model, {"x": f32(1, 3, 16, 16, seed=2)}, run_passes(g))


def test_same_padding_with_dynamic_size_and_stride_keeps_auto_pad():
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
                       {"x": [1, 3, "h", "w"]}, {"y": None}, {"W": f32(4, 3, 3, 3)})
    conv = import_onnx(model, check_runtime=False).nodes[0]
    assert conv.attrs["auto_pad"] == "SAME_UPPER" and "pads" not in conv.attrs


def test_opset11_squeeze_unsqueeze_axes_become_inputs():
    model = make_model([helper.make_node("Squeeze", ["x"], ["s"], axes=[2], name="sq"),
                        helper.make_node("Unsqueeze", ["s"], ["y"], axes=[0, 3], name="unsq")],
                       {"x": [2, 3, 1, 4]}, {"y": None}, opset=11)
    g = import_onnx(model, check_runtime=False)
    sq, unsq = g.nodes
    assert sq.attrs == {} and unsq.attrs == {}
    assert g.constants[sq.inputs[1]].tolist() == [2] and g.constants[sq.inputs[1]].dtype == np.int64
    assert g.constants[unsq.inputs[1]].tolist() == [0, 3]
    check_vs_ort(model, {"x": f32(2, 3, 1, 4)}, run_passes(g))


def test_opset10_clip_attrs_become_inputs():
    model = make_model([helper.make_node("Clip", ["x"], ["c"], min=-0.5, max=0.75, name="clip"),
                        helper.make_node("Clip", ["c"], ["y"], max=0.5, name="upper_only")],
                       {"x": [3, 4]}, {"y": None}, opset=10)
    g = import_onnx(model, check_runtime=False)
    a, b = g.nodes
    assert g.constants[a.inputs[1]] == np.float32(-0.5) and g.constants[a.inputs[2]] == np.float32(0.75)
    assert b.inputs[1] == "" and g.constants[b.inputs[2]] == np.float32(0.5)
    check_vs_ort(model, {"x": f32(3, 4, seed=1)}, run_passes(g))


def test_opset9_slice_attrs_become_inputs():
    model = make_model([helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, 1000], axes=[0, 2], name="sl")],
                       {"x": [4, 3, 5]}, {"y": None}, opset=9)
    g = import_onnx(model, check_runtime=False)
    sl = g.nodes[0]
    assert [g.constants[i].tolist() for i in sl.inputs[1:]] == [[1, 0], [3, 1000], [0, 2]]
    check_vs_ort(model, {"x": f32(4, 3, 5, seed=1)}, run_passes(g))


def test_opset11_split_and_opset10_pad_and_resize_upgraded():
    model = make_model([helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[1, 2], name="split"),
                        helper.make_node("Pad", ["a"], ["p"], pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.5, name="pad"),
                        helper.make_node("Resize", ["b", "scales"], ["r"], mode="nearest", name="resize")],
                       {"x": [1, 3, 4, 5]}, {"p": None, "r": None}, {"scales": np.array([1, 1, 2, 2], np.float32)},
                       opset=10)
    g = import_onnx(model, check_runtime=False)
    split, pad, resize = g.nodes
    assert split.attrs == {"axis": 1} and g.constants[split.inputs[1]].tolist() == [1, 2]
    assert g.constants[pad.inputs[1]].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert g.constants[pad.inputs[2]] == np.float32(0.5) and pad.attrs == {"mode": "constant"}
    assert resize.inputs == ["b", "", "scales"]
    assert resize.attrs["coordinate_transformation_mode"] == "asymmetric" and resize.attrs["nearest_mode"] == "floor"
    check_vs_ort(model, {"x": f32(1, 3, 4, 5, seed=1)}, run_passes(g))


@pytest.mark.parametrize("opset", [7, 9])
def test_upsample_becomes_resize(opset):
    if opset == 7:
        nodes = [helper.make_node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 2.0, 3.0], name="up")]
        inits = {}
    else:
        nodes = [helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest", name="up")]
        inits = {"scales": np.array([1, 1, 2, 3], np.float32)}
    model = make_model(nodes, {"x": [1, 2, 3, 4]}, {"y": None}, inits, opset=opset)
    g = import_onnx(model, check_runtime=False)
    up = g.nodes[0]
    assert up.op == "Resize" and up.inputs[:2] == ["x", ""]
    assert g.constants[up.inputs[2]].tolist() == [1, 1, 2, 3]
    check_vs_ort(model, {"x": f32(1, 2, 3, 4, seed=4)}, run_passes(g))


def test_conv_transpose_same_padding_resolved_only_when_unambiguous():
    def deconv(k, stride):
        m = make_model([helper.make_node("ConvTranspose", ["x", "W"], ["y"], auto_pad="SAME_UPPER",
                                         strides=[stride] * 2, name="dc")],
                       {"x": [1, 2, 5, 5]}, {"y": None}, {"W": f32(2, 3, k, k)})
        return import_onnx(m, check_runtime=False).nodes[0].attrs

    even = deconv(4, 2)  # total padding 4 + 0 - 2 = 2: one each side
    assert even["pads"] == [1, 1, 1, 1] and "auto_pad" not in even
    odd = deconv(3, 2)  # total 1: which side gets it differs between ONNX revisions; the shape rule decides
    assert odd["auto_pad"] == "SAME_UPPER" and "pads" not in odd


def test_resize_opset11_empty_roi_dropped_and_defaults_filled():
    model = make_model([helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="linear", name="rs")],
                       {"x": [1, 2, 3, 4]}, {"y": None},
                       {"roi": np.zeros(0, np.float32), "scales": np.array([1, 1, 2, 1.5], np.float32)}, opset=11)
    rs = import_onnx(model, check_runtime=False).nodes[0]
    assert rs.inputs == ["x", "", "scales"]
    assert rs.attrs["coordinate_transformation_mode"] == "half_pixel" and rs.attrs["mode"] == "linear"
    check_vs_ort(model, {"x": f32(1, 2, 3, 4, seed=2)})


def test_softmax_opset11_non_last_axis_keeps_flatten_semantics():
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], axis=1, name="sm"),
                        helper.make_node("Softmax", ["x"], ["z"], axis=3, name="last")],
                       {"x": [2, 3, 4, 5]}, {"y": None, "z": None}, opset=11)
    g = import_onnx(model, check_runtime=False)
    assert ops(g) == ["Softmax", "Softmax"]  # the op coerces to 2-D itself: no rank needed at import
    assert g.nodes[0].attrs == {"axis": 1, "coerce_2d": 1} and g.nodes[1].attrs == {"axis": 3, "coerce_2d": 1}
    check_vs_ort(model, {"x": f32(2, 3, 4, 5, seed=3)}, run_passes(g))


def test_inputs_constants_and_dtypes():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None, 8])
    w_as_input = helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3, 1, 1])
    idx = helper.make_tensor_value_info("idx", TensorProto.INT64, [2])
    const = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([7, 8], np.int64)))
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], name="conv"), const,
             helper.make_node("Add", ["idx", "k"], ["z"], name="add")]
    g_proto = helper.make_graph(nodes, "g", [x, w_as_input, idx],
                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                                 helper.make_tensor_value_info("z", TensorProto.INT64, None)],
                                [numpy_helper.from_array(f32(4, 3, 1, 1), "W")])
    model = helper.make_model(g_proto, opset_imports=[helper.make_opsetid("", 13)])
    g = import_onnx(model, check_runtime=False)
    assert [(t.name, t.shape, t.dtype) for t in g.inputs] == [("x", (None, 3, None, 8), "float32"),
                                                             ("idx", (2,), "int64")]
    assert g.constants["W"].dtype == np.float32 and g.constants["k"].dtype == np.int64
    assert "Constant" not in ops(g)


# ----- errors ---------------------------------------------------------------------------------------------

def unsupported_model():
    return make_model([helper.make_node("FancyOp", ["x"], ["a"], name="f1"),
                       helper.make_node("Relu", ["a"], ["b"], name="relu"),
                       helper.make_node("OtherOp", ["b"], ["c"], name="o1"),
                       helper.make_node("FancyOp", ["c"], ["y"], name="f2")],
                      {"x": [1, 2]}, {"y": None})


def test_all_unsupported_ops_named_at_once(tmp_path):
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(unsupported_model())
    assert e.value.ops == ["FancyOp", "OtherOp"]
    assert "FancyOp" in str(e.value) and "OtherOp" in str(e.value)
    with pytest.raises(UnsupportedOpError) as e:
        jitmnn.convert(unsupported_model(), str(tmp_path / "m.jmnn"))
    assert e.value.ops == ["FancyOp", "OtherOp"]
    assert not (tmp_path / "m.jmnn").exists()


def test_runtime_missing_ops_are_named_too(monkeypatch):
    from jitmnn.ops import registry

    real = registry.has_op
    monkeypatch.setattr(registry, "has_op", lambda op: op != "Relu" and real(op))
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(unsupported_model())
    assert e.value.ops == ["FancyOp", "OtherOp", "Relu"]


def test_unsupported_attribute_value_names_the_node():
    model = make_model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="area", name="my_resize")],
                       {"x": [1, 1, 2, 2]}, {"y": None}, {"scales": np.array([1, 1, 2, 2], np.float32)})
    with pytest.raises(ConversionError, match="my_resize"):
        import_onnx(model, check_runtime=False)
    model = make_model([helper.make_node("Conv", ["x", "W"], ["y"], auto_pad="BOGUS", name="bad_conv")],
                       {"x": [1, 3, 4, 4]}, {"y": None}, {"W": f32(2, 3, 1, 1)})
    with pytest.raises(ConversionError, match="bad_conv"):
        import_onnx(model, check_runtime=False)


def test_unreadable_source_is_a_conversion_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage-not-protobuf\xff\xff")
    with pytest.raises(ConversionError):
        jitmnn.convert(str(bad), str(tmp_path / "o.jmnn"))
    with pytest.raises(ConversionError, match="not found"):
        jitmnn.convert(str(tmp_path / "missing.onnx"), str(tmp_path / "o.jmnn"))


def test_compression_options_go_through_the_hook(tmp_path, monkeypatch):
    seen = {}

    def fake(graph, options, warnings):
        seen.update(options)
        warnings.append("compressed (test hook)")
        return graph, []

    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, 2]}, {"y": None})
    monkeypatch.setattr(api, "_compress", fake)
    report = jitmnn.convert(model, str(tmp_path / "m.jmnn"), weight_quant_bits=4, block_size=32)
    assert seen == {"fp16": False, "bf16": False, "weight_quant_bits": 4, "block_size": 32, "asymmetric": False,
                    "compression_params": None}
    assert "compressed (test hook)" in report["warnings"]


@pytest.mark.parametrize("options,match", [({"fp16": True, "bf16": True}, "one weight storage"),
                                           ({"weight_quant_bits": 3}, "8 or 4"),
                                           ({"block_size": 32}, "weight_quant_bits")])
def test_conflicting_compression_options_fail_early(tmp_path, options, match):
    with pytest.raises(ConversionError, match=match):
        jitmnn.convert(str(tmp_path / "not_even_read.onnx"), str(tmp_path / "m.jmnn"), **options)


@pytest.mark.parametrize("options", [{"fp16": True}, {"weight_quant_bits": 8},
                                     {"weight_quant_bits": 4, "block_size": 32}])
def test_compression_options_compress_weights(tmp_path, options):
    c = 32
    model = make_model([helper.make_node("Conv", ["x", "W", "b"], ["y"], pads=[1, 1, 1, 1], name="conv")],
                       {"x": [1, 64, 6, 6]}, {"y": None}, {"W": f32(c, 64, 3, 3), "b": f32(c, seed=1)})
    plain = jitmnn.convert(model, str(tmp_path / "plain.jmnn"))
    report = jitmnn.convert(model, str(tmp_path / "small.jmnn"), **options)
    assert report["output_bytes"] < plain["output_bytes"]
    assert [r["layer"] for r in report["compression"] if r["storage"] != "fp32"] == ["conv"]
    assert "compression: 1 of 1 layers" in api.format_report(report)


# ----- convert() and its report ---------------------------------------------------------------------------

def test_convert_writes_a_loadable_file_and_reports(tmp_path):
    c = 8
    model = make_model(
        [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"), bn_node("c", "bn_out"),
         helper.make_node("Relu", ["bn_out"], ["y"], name="relu")],
        {"x": [1, 3, 9, 9]}, {"y": None}, {**conv_inits(c, 3), **bn_inits(c)})
    src, dst = tmp_path / "m.onnx", tmp_path / "m.jmnn"
    onnx.save(model, str(src))
    report = jitmnn.convert(str(src), str(dst))
    assert report["source_bytes"] == os.path.getsize(src) and report["output_bytes"] == os.path.getsize(dst)
    assert report["ops_before"] == {"BatchNormalization": 1, "Conv": 1, "Relu": 1}
    assert report["ops_after"] == {"Conv": 1}
    assert report["passes"]["fold_batchnorm"] == 1 and report["passes"]["fuse_activations"] == 1
    assert "conv" in api.format_report(report)
    x = f32(1, 3, 9, 9, seed=3)
    m = jitmnn.load(str(dst))
    np.testing.assert_allclose(m.run({"x": x})["y"], ort_run(model, {"x": x})["y"], atol=CONVERTED_VS_ORT * 10,
                               rtol=CONVERTED_VS_ORT)


def test_every_onnx_op_in_the_converter_table_has_a_function():
    assert all(callable(fn) for entries in CONVERTERS.values() for _, _, fn in entries)
    for op in ("Conv", "ConvTranspose", "BatchNormalization", "Resize", "Squeeze", "Slice", "Clip", "HardSigmoid"):
        assert op in CONVERTERS


# ----- the real PP-OCR models -----------------------------------------------------------------------------

@pytest.fixture(params=["det", "rec", "cls"])
def ppocr_model(request):
    from jitmnn.models import ppocr

    try:
        return ppocr.ppocr_model_path(request.param)
    except ppocr.PPOCRModelNotFound as e:
        pytest.skip(str(e))


def test_ppocr_models_convert_structurally(ppocr_model):
    """Every op has a converter; BN is folded everywhere it follows a conv; every HardSwish pattern is
    recognised; the result is a valid graph with a smaller op count."""
    model = onnx.load(ppocr_model)
    log = {}
    g = run_passes(import_onnx(model, check_runtime=False), log)
    g.validate()
    before = {}
    for n in model.graph.node:
        before[n.op_type] = before.get(n.op_type, 0) + 1
    after = g.op_counts()
    assert len(g.nodes) < len(model.graph.node) - before.get("Constant", 0)
    assert "Identity" not in after and "Constant" not in after
    assert after.get("Clip", 0) == 0, "every Clip in PP-OCR is ReLU6 inside a HardSwish"
    assert after.get("BatchNormalization", 0) == 0, "every BN follows a conv (after its bias Add folds)"
    fused = [n for n in g.nodes if n.attrs.get("activation")]
    assert len(fused) >= 20
    assert all(n.attrs.get("fused_from") for n in fused)
    assert log["recognize_hardswish"]
    assert [t.shape[1] for t in g.inputs] == [3]


def test_ppocr_models_convert_to_files(ppocr_model, tmp_path):
    g = run_passes(import_onnx(ppocr_model, check_runtime=False))
    require_runtime(g)
    dst = tmp_path / "m.jmnn"
    report = jitmnn.convert(ppocr_model, str(dst))
    assert report["output_bytes"] == os.path.getsize(dst)
    assert report["nodes_after"] < report["nodes_before"]
    from jitmnn import format as jformat

    jformat.verify(str(dst))
    assert jformat.load(str(dst)).op_counts() == report["ops_after"]


def test_converters_are_chosen_by_opset_range():
    """Per-op importers are registered by opset range (as ONNX Runtime's kernel registry): each model opset
    finds exactly one converter for an op, and the attribute-era form is the one below the change."""
    from jitmnn.converter.onnx_import import converter_for

    for op, entries in CONVERTERS.items():
        for opset in range(1, 26):
            hits = [fn for first, last, fn in entries if first <= opset and (last is None or opset <= last)]
            assert len(hits) <= 1, f"{op} at opset {opset}: {len(hits)} converters"
    assert converter_for("Squeeze", 11).__name__ == "_squeeze_axes_attr"
    assert converter_for("Squeeze", 13).__name__ == "_config_inputs"
    assert converter_for("Slice", 9).__name__ == "_slice_attrs" and converter_for("Slice", 10).__name__ == "_config_inputs"
    assert converter_for("Resize", 10).__name__ == "_resize_legacy" and converter_for("Resize", 11).__name__ == "_resize"


def test_every_runtime_op_has_a_converter():
    """STYLE 14: the converter mirrors the ops. An op the runtime can run but no ONNX model can reach is a
    gap: it needs a function in jitmnn/converter/onnx_import.py, or it must be an ONNX op of the default
    domain, which the importer passes through with its attributes."""
    import onnx

    from jitmnn.ops import registry

    missing = sorted(op for op in set(registry.all_ops()) - set(CONVERTERS) if "::" not in op and not onnx.defs.has(op))
    assert not missing, f"runtime ops without an ONNX converter: {missing}"


def interpret(graph, feeds):
    """Run a graph with every op's plain-numpy reference (no kernels, no planner): the passes' ground truth."""
    from jitmnn.ops import registry

    values = dict(graph.constants)
    values.update(feeds)
    for n in graph.nodes:
        outs = registry.get_op(n.op).reference(n, [np.asarray(values[i]) if i else None for i in n.inputs])
        values.update(zip(n.outputs, outs))
    return {o: np.asarray(values[o]) for o in graph.outputs}


# Passes vs no passes, both on numpy references: folding re-rounds weights to fp32 once per fold (BN, affine,
# input affine: ~3 roundings of ~6e-8 relative each, amplified by depth); 1e-4 of the output scale.
PASSES_PRESERVE = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1, 3, 64, 64)])
def test_passes_preserve_ppocr_outputs(ppocr_model, shape):
    raw = import_onnx(ppocr_model, check_runtime=False)
    require_runtime(raw)
    optimised = run_passes(raw)
    if "rec" in os.path.basename(ppocr_model) or "cls" in os.path.basename(ppocr_model):
        shape = (1, 3, 48, 64)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    ref = interpret(raw, {"x": x})
    got = interpret(optimised, {"x": x})
    for name in raw.outputs:
        r, o = ref[name], got[name]
        err = float(np.max(np.abs(o.astype(np.float64) - r)) / max(float(np.max(np.abs(r))), 1e-30))
        assert err <= PASSES_PRESERVE, f"{name}: passes changed the output by {err:.2e} of its scale"


# ----- property test: random conv chains keep their meaning through the passes -----------------------------


POST_OPS = ["bn", "mul_scalar", "add_channel", "relu", "relu6", "hardswish_div", "hardswish_hsig", "silu",
            "affine_scalar"]


def _chain_model(cin, cout, group, stride, pads, post, pads2, seed):
    r = np.random.default_rng(seed)
    inits = {"W": (r.standard_normal((cout, cin // group, 3, 3)) * 0.3).astype(np.float32),
             "b": r.standard_normal(cout).astype(np.float32), **HS_CONSTS}
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["t0"], pads=pads, strides=[stride] * 2, group=group,
                              name="conv")]
    cur = "t0"
    for i, op in enumerate(post):
        out = f"t{i + 1}"
        p = f"p{i}"
        if op == "bn":
            inits.update(bn_inits(cout, seed=seed + i, prefix=p))
            nodes.append(bn_node(cur, out, prefix=p, name=f"bn{i}"))
        elif op == "mul_scalar":
            inits[p] = np.array([r.uniform(0.5, 2)], np.float32)
            nodes.append(helper.make_node("Mul", [p, cur], [out], name=f"mul{i}"))
        elif op == "add_channel":
            inits[p] = r.standard_normal((1, cout, 1, 1)).astype(np.float32)
            nodes.append(helper.make_node("Add", [cur, p], [out], name=f"add{i}"))
        elif op == "relu":
            nodes.append(helper.make_node("Relu", [cur], [out], name=f"relu{i}"))
        elif op == "relu6":
            nodes.append(helper.make_node("Clip", [cur, "zero", "six"], [out], name=f"clip{i}"))
        elif op in ("hardswish_div", "hardswish_hsig"):
            sub = _hardswish_nodes("div6" if op == "hardswish_div" else "hardsigmoid", x=cur, y=out)
            for k, nd in enumerate(sub):  # unique tensor and node names per occurrence
                ren = {t: f"{t}_{i}" for t in ("h", "a", "c", "m", "d")}
                nd.input[:] = [ren.get(t, t) for t in nd.input]
                nd.output[:] = [ren.get(t, t) for t in nd.output]
                nd.name = f"{nd.name}_{i}"
            nodes.extend(sub)
        elif op == "silu":
            nodes += [helper.make_node("Sigmoid", [cur], [f"s{i}"], name=f"sig{i}"),
                      helper.make_node("Mul", [cur, f"s{i}"], [out], name=f"silu{i}")]
        elif op == "affine_scalar":
            inits[p + "a"] = np.array([r.uniform(0.5, 2)], np.float32)
            inits[p + "b"] = np.array([r.uniform(-1, 1)], np.float32)
            nodes += [helper.make_node("Mul", [cur, p + "a"], [f"am{i}"], name=f"amul{i}"),
                      helper.make_node("Add", [f"am{i}", p + "b"], [out], name=f"aadd{i}")]
        cur = out
    inits["W2"] = (r.standard_normal((2, cout, 3, 3)) * 0.3).astype(np.float32)
    nodes.append(helper.make_node("Conv", [cur, "W2"], ["y"], pads=pads2, name="conv2"))
    return make_model(nodes, {"x": [1, cin, 9, 11]}, {"y": None}, inits)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(cin=st.sampled_from([1, 3, 4]), cout_mult=st.sampled_from([1, 2]), depthwise=st.booleans(),
           stride=st.sampled_from([1, 2]), pads=st.sampled_from([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]]),
           post=st.lists(st.sampled_from(POST_OPS), min_size=1, max_size=4),
           pads2=st.sampled_from([[0, 0, 0, 0], [1, 1, 1, 1]]), seed=st.integers(0, 1000))
def test_passes_preserve_random_conv_chains(cin, cout_mult, depthwise, stride, pads, post, pads2, seed):
    cout = cin * cout_mult
    group = cin if depthwise else 1
    model = _chain_model(cin, cout, group, stride, pads, post, pads2, seed)
    raw = import_onnx(model, check_runtime=False)
    require_runtime(raw)
    optimised = run_passes(raw)
    x = np.random.default_rng(seed).standard_normal((1, cin, 9, 11)).astype(np.float32)
    ref, got = interpret(raw, {"x": x})["y"], interpret(optimised, {"x": x})["y"]
    err = float(np.max(np.abs(got.astype(np.float64) - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    assert err <= PASSES_PRESERVE, f"post={post} pads2={pads2}: {err:.2e}; ops {ops(optimised)}"


def test_fp16_initializers_are_widened_with_one_warning():
    model = make_model([helper.make_node("Mul", ["x", "a"], ["m"], name="m1"),
                        helper.make_node("Add", ["m", "b"], ["y"], name="a1")],
                       {"x": [2, 3]}, {"y": None},
                       {"a": f32(3).astype(np.float16), "b": f32(3, seed=1).astype(np.float16)})
    warnings = []
    g = import_onnx(model, check_runtime=False, warnings=warnings)
    assert g.constants["a"].dtype == np.float32 and g.constants["b"].dtype == np.float32
    assert len(warnings) == 1 and "float16" in warnings[0]
