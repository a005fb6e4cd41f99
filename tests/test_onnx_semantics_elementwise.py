"""ONNX semantics of Dropout, Cast and CastLike that the equivalence cases cannot express: output dtypes,
the converter's choice between Identity and a Dropout node, and the typed refusal of training mode."""

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper

from jitmnn.converter.onnx_import import import_onnx
from jitmnn.errors import ConversionError, InputError
from jitmnn.graph import Node
from jitmnn.ops import registry


def _node(op, n_in, attrs=None, n_out=1):
    return Node(f"{op}_t", op, [f"in{i}" for i in range(n_in)], [f"out{i}" for i in range(n_out)], attrs or {})


@pytest.mark.parametrize("to,dtype", [(10, np.float16), (16, ml_dtypes.bfloat16), (17, ml_dtypes.float8_e4m3fn),
                                      (22, ml_dtypes.int4), (24, ml_dtypes.float8_e8m0fnu), (26, ml_dtypes.int2)])
def test_cast_output_dtype_is_the_onnx_type(to, dtype):
    (shape, got), = registry.get_op("Cast").infer(_node("Cast", 1, {"to": to}), [(2, 3)], [np.float32], [None])
    assert np.dtype(got) == np.dtype(dtype) and shape == (2, 3)


def test_castlike_takes_input_1_dtype():
    op = registry.get_op("CastLike")
    (_, got), = op.infer(_node("CastLike", 2), [(4,), (1,)], [np.float32, np.dtype(ml_dtypes.float8_e5m2)], [None, None])
    assert np.dtype(got) == np.dtype(ml_dtypes.float8_e5m2)
    out = op.reference(_node("CastLike", 2), [np.array([1e6, -1e6], np.float32), np.zeros(1, ml_dtypes.float8_e5m2)])[0]
    assert out.dtype == np.dtype(ml_dtypes.float8_e5m2) and out.astype(np.float32).tolist() == [57344.0, -57344.0]


def test_cast_rejects_unknown_round_mode():
    from jitmnn.errors import ShapeError

    with pytest.raises(ShapeError, match="round_mode"):
        registry.get_op("Cast").infer(_node("Cast", 1, {"to": 24, "round_mode": "zero"}), [(2,)], [np.float32], [None])


def test_dropout_training_with_ratio_is_refused_at_run_time():
    op = registry.get_op("Dropout")
    x = np.ones((2, 2), np.float32)
    with pytest.raises(InputError, match="training_mode"):
        op.reference(_node("Dropout", 3, n_out=2), [x, np.array(0.5, np.float32), np.array(True)])
    y, mask = op.reference(_node("Dropout", 3, n_out=2), [x, np.array(0.5, np.float32), np.array(False)])
    assert np.array_equal(y, x) and mask.dtype == np.bool_ and mask.all()


def _dropout_model(outputs, training=None):
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])]
    inits, node_inputs = [], ["x"]
    if training is not None:
        inits.append(helper.make_tensor("r", TensorProto.FLOAT, [], [0.5]))
        node_inputs.append("r")
        if training == "input":
            inputs.append(helper.make_tensor_value_info("t", TensorProto.BOOL, []))
        else:
            inits.append(helper.make_tensor("t", TensorProto.BOOL, [], [training]))
        node_inputs.append("t")
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])]
    if outputs == 2:
        outs.append(helper.make_tensor_value_info("m", TensorProto.BOOL, [2, 3]))
    node = helper.make_node("Dropout", node_inputs, ["y", "m"][:outputs])
    graph = helper.make_graph([node], "g", inputs, outs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("outputs,training,expect", [(1, None, "Identity"), (2, None, "Dropout"),
                                                     (1, "input", "Dropout"), (1, False, "Identity")])
def test_dropout_converts_to_identity_unless_mask_or_run_time_mode(outputs, training, expect):
    graph = import_onnx(_dropout_model(outputs, training))
    assert [n.op for n in graph.nodes] == [expect]


def test_dropout_constant_training_with_ratio_is_a_conversion_error():
    with pytest.raises(ConversionError, match="training"):
        import_onnx(_dropout_model(1, True))
