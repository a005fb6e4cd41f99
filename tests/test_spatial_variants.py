"""Conv / pool / resize variants end to end through the ONNX backend: Resize whose scales or sizes are graph
inputs (the plan is keyed on their values), MaxPool's Indices output, 1-D and 3-D ConvTranspose."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from jitmnn.backend import JitmnnBackend
from jitmnn.ops import registry
from tests import tolerances
from tests.reference.conv import conv_transpose
from tests.reference.pool import REFERENCES as POOL_REFS
from tests.reference.resize import _resize
from tests.harness import rng


def _model(nodes, inputs, outputs, opset=19):
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def test_resize_infer_asks_for_unknown_scales():
    """Scales unknown at plan time: infer names the input so the planner can key the plan on it."""
    from jitmnn.graph import Node

    node = Node("r", "Resize", ["x", "", "scales"], ["y"], {"mode": "linear"})
    with pytest.raises(registry.PlanTimeValueNeeded) as e:
        registry.get_op("Resize").infer(node, [(1, 2, 3, 4), None, (4,)], [np.float32, None, np.float32],
                                        [None, None, None])
    assert e.value.index == 2


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_scales_fed_at_run_time(mode):
    """The same model with two different scales values: each run plans for the values it is given."""
    x = rng(1).standard_normal((1, 2, 5, 6)).astype(np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)
    model = _model([node], [_vi("x", TensorProto.FLOAT, x.shape), _vi("scales", TensorProto.FLOAT, [4])],
                   [_vi("y", TensorProto.FLOAT, None)])
    rep = JitmnnBackend.prepare(model)
    for scales in ([1, 1, 2, 1.5], [1, 1, 0.6, 3]):
        s = np.array(scales, np.float32)
        (got,) = rep.run([x, s])
        ref = _resize({"mode": mode}, [x, None, s])[0]
        assert got.shape == ref.shape
        assert tolerances.rel_err(got, ref) <= tolerances.F32, f"{mode} scales {scales}"


def test_resize_sizes_and_roi_fed_at_run_time():
    x = rng(2).standard_normal((1, 1, 6, 7)).astype(np.float32)
    node = helper.make_node("Resize", ["x", "roi", "", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=5.0)
    model = _model([node], [_vi("x", TensorProto.FLOAT, x.shape), _vi("roi", TensorProto.FLOAT, [8]),
                            _vi("sizes", TensorProto.INT64, [4])], [_vi("y", TensorProto.FLOAT, None)])
    roi = np.array([0, 0, -0.1, 0.2, 1, 1, 0.8, 1.3], np.float32)
    sizes = np.array([1, 1, 4, 5], np.int64)
    (got,) = JitmnnBackend.prepare(model).run([x, roi, sizes])
    ref = _resize({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
                   "extrapolation_value": 5.0}, [x, roi, None, sizes])[0]
    assert tolerances.rel_err(got, ref) <= tolerances.F32


@pytest.mark.parametrize("storage_order", [0, 1])
def test_maxpool_indices_output(storage_order):
    x = rng(3).standard_normal((2, 3, 7, 6)).astype(np.float32)
    attrs = {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "storage_order": storage_order}
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], **attrs)
    model = _model([node], [_vi("x", TensorProto.FLOAT, x.shape)],
                   [_vi("y", TensorProto.FLOAT, None), _vi("i", TensorProto.INT64, None)], opset=12)
    y, idx = JitmnnBackend.prepare(model).run([x])
    ref_y, ref_i = POOL_REFS["MaxPool"](attrs, [x])
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, ref_i)
    assert tolerances.rel_err(y, ref_y) == 0
    # the indices point at the maxima: row-major, or column-major within each (n, c) plane
    flat = (x if not storage_order else x.transpose(0, 1, 3, 2)).reshape(-1)
    np.testing.assert_array_equal(flat[idx], y)


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 2, 6), (2, 3, 3), {"strides": [2], "output_padding": [1], "pads": [1, 0]}),
    ((1, 2, 3, 4, 2), (2, 2, 2, 3, 2), {"strides": [2, 1, 2], "dilations": [1, 2, 1]}),
    # output_shape beyond what the taps reach: negative total padding, the border holds the bias
    ((1, 1, 3, 3), (1, 2, 3, 3), {"strides": [3, 2], "output_shape": [10, 8]}),
])
def test_convtranspose_ranks_and_output_shape(x_shape, w_shape, attrs):
    x = rng(4).standard_normal(x_shape).astype(np.float32)
    w = (rng(5).standard_normal(w_shape) * 0.3).astype(np.float32)
    b = rng(6).standard_normal(w_shape[1]).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [_vi("x", TensorProto.FLOAT, x_shape)], [_vi("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor("w", TensorProto.FLOAT, w_shape, w.reshape(-1)),
                               helper.make_tensor("b", TensorProto.FLOAT, [w_shape[1]], b)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (got,) = JitmnnBackend.prepare(model).run([x])
    ref = conv_transpose(dict(attrs, kernel_shape=list(w_shape[2:])), [x, w, b])[0]
    assert got.shape == ref.shape
    assert tolerances.rel_err(got, ref) <= tolerances.F32
