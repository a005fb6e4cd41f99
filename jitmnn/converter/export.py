"""jitmnn Graph -> ONNX model. Our IR already speaks ONNX (op names, attribute names, opset-13 semantics),
so export is mechanical; the only rewrites undo what our IR adds:

- a fused activation on Conv/ConvTranspose/Gemm/MatMul (attrs `activation`, `activation_params`) becomes the
  op followed by the activation as ONNX ops (Relu, Clip with min/max constant inputs, HardSigmoid, ...);
- our `HardSwish` op (x * clip(x + 3, 0, 6) / 6) is ONNX HardSwish from opset 14, and below that
  `x * HardSigmoid(x, alpha=1/6, beta=0.5)`, which is the same function;
- GELU is ONNX Gelu from opset 20, below that its erf form 0.5 * x * (1 + erf(x / sqrt(2)));
- compressed constants (fp16/int8 storage) are written back as fp32, their values after dequantization.

    save_onnx(jitmnn.models.zoo.resnet18(), "resnet18.onnx")   # ORT, MNN, OpenVINO all run this file
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Graph, Node, as_float_array

DEFAULT_OPSET = 13
# Attributes that exist only in our IR (fused epilogues); everything else is an ONNX attribute.
IR_ONLY_ATTRS = ("activation", "activation_params", "fused_from")
# ONNX attributes whose type is FLOAT(S) even when a JSON round-trip turned 1.0 into 1.
FLOAT_ATTRS = {"alpha", "beta", "epsilon", "momentum", "gamma", "bias", "lambd", "ratio", "spatial_scale",
               "cubic_coeff_a", "extrapolation_value", "scale", "scales", "value_float", "value_floats"}
_ONNX_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7,
                "bool": 9, "float16": 10, "float64": 11}


def to_onnx(graph: Graph, opset: int = DEFAULT_OPSET, ir_version: int = 8):
    """An onnx.ModelProto equivalent to `graph` (checked with onnx.checker)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph.validate()
    ex = _Expander(graph, opset)
    for node in graph.nodes:
        ex.emit(node)
    initializers = [numpy_helper.from_array(_onnx_array(v), name) for name, v in graph.constants.items()]
    initializers += [numpy_helper.from_array(v, name) for name, v in ex.extra_constants.items()]
    inputs = [helper.make_tensor_value_info(t.name, _ONNX_DTYPES.get(t.dtype, TensorProto.FLOAT),
                                            [_dim(d, t.name, i) for i, d in enumerate(t.shape)])
              for t in graph.inputs]
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in graph.outputs]
    onnx_graph = helper.make_graph(ex.nodes, graph.name or "jitmnn", inputs, outputs, initializers)
    model = helper.make_model(onnx_graph, producer_name="jitmnn", opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    for key, value in graph.metadata.items():
        if isinstance(value, (str, int, float, bool)):
            model.metadata_props.add(key=str(key), value=str(value))
    _fill_output_types(model)
    onnx.checker.check_model(model)
    return model


def _fill_output_types(model) -> None:
    """Graph outputs get their shapes from ONNX shape inference (the checker wants a shape on each)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # inference is a nicety: an op it cannot type leaves the output unshaped
        return
    by_name = {o.name: o for o in inferred.graph.output}
    for out in model.graph.output:
        got = by_name.get(out.name)
        if got is not None and got.type.tensor_type.HasField("shape"):
            out.type.CopyFrom(got.type)


def save_onnx(graph: Graph, path: str, opset: int = DEFAULT_OPSET) -> str:
    """Write `graph` as an ONNX file at `path`; returns the path."""
    import onnx

    onnx.save(to_onnx(graph, opset), path)
    return path


def _dim(d, tensor: str, axis: int):
    """A symbolic ONNX dim for None/<=0 (batch 'N' on axis 0), an int otherwise."""
    if isinstance(d, (int, np.integer)) and d > 0:
        return int(d)
    if isinstance(d, str):
        return d
    return "N" if axis == 0 else f"{tensor}_d{axis}"


def _onnx_array(value) -> np.ndarray:
    arr = np.asarray(as_float_array(value))
    if arr.dtype.name == "uint16":  # fp16 stored as raw bits (Numba has no float16)
        arr = arr.view(np.float16).astype(np.float32)
    return np.ascontiguousarray(arr)


class _Expander:
    def __init__(self, graph: Graph, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.extra_constants: dict = {}
        self._taken = set(graph.constants) | {t.name for t in graph.inputs}
        for n in graph.nodes:
            self._taken.update(n.outputs)
            self._taken.add(n.name)

    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self._taken:
            i += 1
            name = f"{base}_{i}"
        self._taken.add(name)
        return name

    def constant(self, base: str, value) -> str:
        name = self.fresh(base)
        self.extra_constants[name] = np.asarray(value, dtype=np.float32)
        return name

    def add(self, op: str, inputs: list, outputs: list, name: str, **attrs) -> None:
        from onnx import helper

        node = helper.make_node(op, list(inputs), list(outputs), name=name)
        for key, value in attrs.items():
            node.attribute.append(_attribute(key, value))
        self.nodes.append(node)

    def emit(self, node: Node) -> None:
        attrs = {k: v for k, v in node.attrs.items() if k not in IR_ONLY_ATTRS and not k.startswith("_")}
        if node.op == "HardSwish":
            self.activation(node.inputs[0], node.outputs[0], node.name, "hardswish", ())
            return
        activation = node.attrs.get("activation")
        if not activation:
            self.add(node.op, node.inputs, node.outputs, node.name, **attrs)
            return
        if len(node.outputs) != 1:
            raise ValueError(f"node {node.name!r} ({node.op}) has a fused activation but {len(node.outputs)} outputs")
        pre = self.fresh(f"{node.outputs[0]}.pre_{activation}")
        self.add(node.op, node.inputs, [pre], node.name, **attrs)
        self.activation(pre, node.outputs[0], self.fresh(f"{node.name}.{activation}"), activation,
                        node.attrs.get("activation_params") or ())

    def activation(self, x: str, y: str, name: str, kind: str, params) -> None:
        """y = kind(x) as ONNX ops of the target opset."""
        if kind == "relu":
            self.add("Relu", [x], [y], name)
        elif kind == "clip":
            lo = self.constant(f"{name}.min", params[0])
            hi = self.constant(f"{name}.max", params[1])
            self.add("Clip", [x, lo, hi], [y], name)
        elif kind == "hardsigmoid":
            self.add("HardSigmoid", [x], [y], name, alpha=float(params[0]), beta=float(params[1]))
        elif kind == "hardswish":
            if self.opset >= 14:
                self.add("HardSwish", [x], [y], name)
            else:
                gate = self.fresh(f"{name}.gate")
                self.add("HardSigmoid", [x], [gate], f"{name}.gate", alpha=1.0 / 6.0, beta=0.5)
                self.add("Mul", [x, gate], [y], name)
        elif kind == "sigmoid":
            self.add("Sigmoid", [x], [y], name)
        elif kind == "silu":
            gate = self.fresh(f"{name}.gate")
            self.add("Sigmoid", [x], [gate], f"{name}.gate")
            self.add("Mul", [x, gate], [y], name)
        elif kind == "tanh":
            self.add("Tanh", [x], [y], name)
        elif kind == "gelu":
            if self.opset >= 20:
                self.add("Gelu", [x], [y], name)
            else:
                scaled, erf, one_plus, half_x = (self.fresh(f"{name}.{s}") for s in ("scaled", "erf", "1p", "halfx"))
                self.add("Mul", [x, self.constant(f"{name}.inv_sqrt2", 1.0 / math.sqrt(2.0))], [scaled], scaled)
                self.add("Erf", [scaled], [erf], erf)
                self.add("Add", [erf, self.constant(f"{name}.one", 1.0)], [one_plus], one_plus)
                self.add("Mul", [x, self.constant(f"{name}.half", 0.5)], [half_x], half_x)
                self.add("Mul", [half_x, one_plus], [y], name)
        else:
            raise ValueError(f"cannot export fused activation {kind!r} of node {name!r}")


def _attribute(key: str, value):
    from onnx import AttributeProto, helper, numpy_helper

    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(value))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        value = [v.item() if isinstance(v, np.generic) else v for v in value]
        if key in FLOAT_ATTRS or any(isinstance(v, float) for v in value):
            return helper.make_attribute(key, [float(v) for v in value], attr_type=AttributeProto.FLOATS)
        if all(isinstance(v, str) for v in value) and value:
            return helper.make_attribute(key, value, attr_type=AttributeProto.STRINGS)
        return helper.make_attribute(key, [int(v) for v in value], attr_type=AttributeProto.INTS)
    if isinstance(value, bool):
        return helper.make_attribute(key, int(value))
    if key in FLOAT_ATTRS and isinstance(value, (int, float)):
        return helper.make_attribute(key, float(value))
    if isinstance(value, dict) and "dtype" in value and "data" in value:  # a tensor attr as JSON
        return helper.make_attribute(key, numpy_helper.from_array(np.asarray(value["data"], dtype=value["dtype"])))
    return helper.make_attribute(key, value)
