"""int8 models made by onnxruntime.quantization run through jitmnn.backend and agree with ONNX Runtime on the
same quantized model: a small float CNN (Conv-Relu-Conv-GlobalAveragePool-Flatten-Gemm, random weights) is
quantized statically (QDQ and QOperator formats, with a small random calibration set) and dynamically."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

from onnx import TensorProto, numpy_helper  # noqa: E402
from onnx import helper as oh  # noqa: E402

from jitmnn.backend import JitmnnBackend  # noqa: E402
from tests import tolerances  # noqa: E402

INPUT_SHAPE = (1, 3, 12, 12)
# Float32 ops after the last quantized tensor, summed in another order than ONNX Runtime's: tests.tolerances.F32.
FLOAT_TAIL = tolerances.F32
N_INPUTS = 12  # random inputs per model, with varying ranges so some saturate the calibrated ranges


def float_cnn(seed=0):
    r = np.random.default_rng(seed)

    def init(name, shape, scale):
        return numpy_helper.from_array((r.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("w1", (8, 3, 3, 3), 0.3), init("b1", (8,), 0.1), init("w2", (16, 8, 3, 3), 0.2),
             init("b2", (16,), 0.1), init("wf", (10, 16), 0.3), init("bf", (10,), 0.1)]
    nodes = [oh.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             oh.make_node("Relu", ["c1"], ["r1"]),
             oh.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             oh.make_node("GlobalAveragePool", ["c2"], ["g"]),
             oh.make_node("Flatten", ["g"], ["f"]),
             oh.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    graph = oh.make_graph(nodes, "cnn", [oh.make_tensor_value_info("x", TensorProto.FLOAT, INPUT_SHAPE)],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, (1, 10))], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)])
    model.ir_version = 8
    return model


class RandomCalibration(quantization.CalibrationDataReader):
    def __init__(self, n=4, seed=1):
        r = np.random.default_rng(seed)
        self._batches = iter([{"x": r.standard_normal(INPUT_SHAPE).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self._batches, None)


@pytest.fixture(scope="module")
def float_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("qdq") / "float.onnx"
    onnx.save(float_cnn(), str(path))
    return path


def quantized(float_model_path, name, **kwargs):
    out = float_model_path.parent / f"{name}.onnx"
    if kwargs.pop("dynamic", False):
        quantization.quantize_dynamic(str(float_model_path), str(out), **kwargs)
    else:
        quantization.quantize_static(str(float_model_path), str(out), RandomCalibration(), **kwargs)
    return onnx.load(str(out))


def inputs(seed=2):
    r = np.random.default_rng(seed)
    return [(r.standard_normal(INPUT_SHAPE) * r.uniform(0.5, 3.0)).astype(np.float32) for _ in range(N_INPUTS)]


def run_both(model, xs, **ort_options):
    so = ort.SessionOptions()
    for k, v in ort_options.items():
        setattr(so, k, v)
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rep = JitmnnBackend.prepare(model)
    return [(rep.run([x])[0], sess.run(None, {"x": x})[0]) for x in xs]


def output_step(model) -> float:
    """The scale of the DequantizeLinear producing the graph output: one step of the final quantization."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    last = next(n for n in model.graph.node if model.graph.output[0].name in n.output)
    assert last.op_type == "DequantizeLinear", last.op_type
    return float(inits[last.input[1]])


def op_types(model):
    return {n.op_type for n in model.graph.node}


QDQ = quantization.QuantFormat.QDQ
QOPERATOR = quantization.QuantFormat.QOperator


@pytest.mark.parametrize("name,options", [
    ("qdq-s8", dict(quant_format=QDQ)),
    ("qdq-u8-per-channel", dict(quant_format=QDQ, per_channel=True, activation_type=quantization.QuantType.QUInt8)),
])
@pytest.mark.parametrize("ort_level", ["ORT_ENABLE_ALL", "ORT_DISABLE_ALL"])
def test_static_qdq_matches_onnxruntime(float_model_path, name, options, ort_level):
    """jitmnn runs a QDQ model as written: DequantizeLinear -> float op -> QuantizeLinear. ONNX Runtime either
    does the same (ORT_DISABLE_ALL) or fuses each DQ-op-Q group into an exact integer kernel (ORT_ENABLE_ALL).
    The integer part is exact in both; only the float accumulation order differs, which moves a pre-rounding
    value by ~1e-7 relative and so can flip a round-half decision at a QuantizeLinear: one step there. The
    output is a DequantizeLinear, so the bound is one step of its scale (measured: 1 input in 50 differs, by
    exactly one step, against the fused kernels)."""
    model = quantized(float_model_path, name, **options)
    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(model)
    step = output_step(model)
    pairs = run_both(model, inputs(), graph_optimization_level=getattr(ort.GraphOptimizationLevel, ort_level))
    exact = 0
    for got, ref in pairs:
        assert got.shape == ref.shape and got.dtype == ref.dtype
        diff = float(np.abs(got.astype(np.float64) - ref).max())
        assert diff <= step * (1 + 1e-5), f"{name}: max diff {diff} exceeds one output step {step}"
        exact += diff == 0
    assert exact >= len(pairs) - 2, f"{name}: only {exact}/{len(pairs)} outputs identical to ONNX Runtime"


def test_static_qoperator_conv_matches_onnxruntime_exactly(float_model_path):
    """QOperator format restricted to Conv (QuantizeLinear -> QLinearConv (Relu folded into its output range)
    -> QLinearConv -> DequantizeLinear -> float GlobalAveragePool and Gemm): QLinearConv requantizes like ONNX
    Runtime (float32 multiplier, round half to even), so the int8 tensor entering the float tail is identical;
    the tail's float32 summation order differs (measured 4.8e-7 absolute), hence the float32 tier there."""
    model = quantized(float_model_path, "qop-conv", quant_format=QOPERATOR, op_types_to_quantize=["Conv"])
    assert "QLinearConv" in op_types(model)
    for got, ref in run_both(model, inputs()):
        np.testing.assert_allclose(got, ref, rtol=0, atol=FLOAT_TAIL * max(1.0, float(np.abs(ref).max())))


def test_static_qoperator_full_matches_onnxruntime_exactly(float_model_path):
    """The full QOperator model also uses ONNX Runtime's contrib ops com.microsoft.QLinearGlobalAveragePool
    and com.microsoft.QGemm (registered in jitmnn/ops/quant_linear.py under "com.microsoft::<op>")."""
    model = quantized(float_model_path, "qop", quant_format=QOPERATOR)
    assert {"QLinearConv", "QGemm", "QLinearGlobalAveragePool"} <= op_types(model)
    for got, ref in run_both(model, inputs()):
        np.testing.assert_array_equal(got, ref)


def test_dynamic_quantization_matches_onnxruntime(float_model_path):
    """quantize_dynamic: DynamicQuantizeLinear -> ConvInteger / MatMulInteger (exact int32 in both) -> Cast ->
    Mul by the scales -> Add bias, in float. The integer parts and the dynamic scales agree exactly; ONNX
    Runtime fuses the float rescale differently (e.g. scale products in another order), ~1 ulp per op, hence
    the float32 tier (measured 1.2e-6 absolute on outputs of magnitude ~2)."""
    model = quantized(float_model_path, "dynamic", dynamic=True)
    assert {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"} <= op_types(model)
    for got, ref in run_both(model, inputs()):
        assert got.dtype == ref.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=0, atol=FLOAT_TAIL * max(1.0, float(np.abs(ref).max())))
