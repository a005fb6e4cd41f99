"""jitmnn Graph -> ONNX model. Our IR already speaks ONNX (op names, attribute names, opset-13 semantics),
so export is mechanical; the only rewrites undo what our IR adds:

- a fused activation on Conv/ConvTranspose/Gemm/MatMul (attrs `activation`, `activation_params`) becomes the
  op followed by the activation as ONNX ops (Relu, Clip with min/max constant inputs, HardSigmoid, ...);
- our `HardSwish` op (x * clip(x + 3, 0, 6) / 6) is ONNX HardSwish from opset 14, and below that
  `x * HardSigmoid(x, alpha=1/6, beta=0.5)`, which is the same function;
- GELU is ONNX Gelu from opset 20, below that its erf form 0.5 * x * (1 + erf(x / sqrt(2)));
- other ops newer than the target opset (NEWER_OPS: LayerNormalization 17, Mish 18) become the older ops
  exporters used to write; attributes a later opset added (Reshape allowzero, pooling dilations) are
  dropped when they hold their default, and are an error otherwise;
- compressed constants (fp16/int8 storage) are written back as fp32, their values after dequantization.

    save_onnx(jitmnn.models.zoo.resnet18(), "resnet18.onnx")   # ORT, MNN, OpenVINO all run this file
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Graph, Node, as_float_array, contiguous

DEFAULT_OPSET = 13
# Attributes that exist only in our IR (fused epilogues); everything else is an ONNX attribute.
IR_ONLY_ATTRS = ("activation", "activation_params", "fused_from")
# ONNX attributes whose type is FLOAT(S) even when a JSON round-trip turned 1.0 into 1.
FLOAT_ATTRS = {"alpha", "beta", "epsilon", "momentum", "gamma", "bias", "lambd", "ratio", "spatial_scale",
               "cubic_coeff_a", "extrapolation_value", "scale", "scales", "value_float", "value_floats"}
# ONNX ops newer than the default opset that our IR may hold, and the opset that introduced them;
# below it they are exported as the equivalent older ops.
NEWER_OPS = {"HardSwish": 14, "LayerNormalization": 17, "Mish": 18, "Gelu": 20}
_ONNX_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7,
                "bool": 9, "float16": 10, "float64": 11}


def to_onnx(graph: Graph, opset: int = DEFAULT_OPSET, ir_version: int = 8):
    """An onnx.ModelProto equivalent to `graph` (checked with onnx.checker)."""
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
    _check(model)
    return model


def _check(model) -> None:
    """onnx.checker on the model. The checker wants a shape on every graph output, but ONNX shape
    inference cannot type an output computed through Shape -> Slice -> Reshape of a symbolic batch (PP-OCR
    cls/rec); such outputs stay untyped in the returned model (ONNX Runtime accepts that) and only the
    checked copy gets an empty shape field."""
    import onnx

    unshaped = [o for o in model.graph.output if not o.type.tensor_type.HasField("shape")]
    if not unshaped:
        onnx.checker.check_model(model)
        return
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for o in copy.graph.output:
        if not o.type.tensor_type.HasField("shape"):
            o.type.tensor_type.shape.SetInParent()
    onnx.checker.check_model(copy)


def _fill_output_types(model) -> None:
    """Graph outputs get their shapes from ONNX shape inference (the checker wants a shape on each)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
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
    return contiguous(as_float_array(value))


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
        known = _schema_attributes(op, self.opset)
        for key, value in attrs.items():
            if known is not None and key not in known:
                # an attribute newer than the target opset (Reshape allowzero is opset 14): fine to drop
                # when it holds the default behaviour, otherwise the model needs a newer opset
                if _is_default(key, value):
                    continue
                raise ValueError(f"node {name!r} ({op}) has attribute {key}={value!r}, which opset {self.opset} "
                                 f"does not have; export with a newer opset")
            node.attribute.append(_attribute(key, value))
        self.nodes.append(node)

    def emit(self, node: Node) -> None:
        attrs = {k: v for k, v in node.attrs.items() if k not in IR_ONLY_ATTRS and not k.startswith("_")}
        if node.op in ("HardSwish", "Gelu", "Mish", "LayerNormalization"):
            if node.op == "HardSwish":
                self.activation(node.inputs[0], node.outputs[0], node.name, "hardswish", ())
                return
            if self.opset < NEWER_OPS[node.op]:
                getattr(self, f"expand_{node.op.lower()}")(node)
                return
        if attrs.pop("coerce_2d", 0):  # opset < 13 Softmax-family semantics, spelled out for any opset
            x, y, name = node.inputs[0], node.outputs[0], node.name
            shape, flat, soft = (self.fresh(f"{name}.{s}") for s in ("shape", "flat", "soft"))
            self.add("Shape", [x], [shape], shape)
            self.add("Flatten", [x], [flat], flat, axis=int(attrs["axis"]))
            self.add(node.op, [flat], [soft], name, axis=-1)
            self.add("Reshape", [soft, shape], [y], self.fresh(f"{name}.reshape"))
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

    def expand_gelu(self, node: Node) -> None:
        if node.attrs.get("approximate", "none") == "tanh":
            x, y, name = node.inputs[0], node.outputs[0], node.name
            x3, inner, t, one_plus, half_x = (self.fresh(f"{name}.{s}") for s in ("x3", "inner", "tanh", "1p", "hx"))
            self.add("Pow", [x, self.constant(f"{name}.three", 3.0)], [x3], x3)
            k = self.fresh(f"{name}.k")
            self.add("Mul", [x3, self.constant(f"{name}.c", 0.044715)], [k], k)
            s_ = self.fresh(f"{name}.sum")
            self.add("Add", [x, k], [s_], s_)
            self.add("Mul", [s_, self.constant(f"{name}.sqrt_2_over_pi", math.sqrt(2.0 / math.pi))], [inner], inner)
            self.add("Tanh", [inner], [t], t)
            self.add("Add", [t, self.constant(f"{name}.one", 1.0)], [one_plus], one_plus)
            self.add("Mul", [x, self.constant(f"{name}.half", 0.5)], [half_x], half_x)
            self.add("Mul", [half_x, one_plus], [y], name)
        else:
            self.activation(node.inputs[0], node.outputs[0], node.name, "gelu", ())

    def expand_mish(self, node: Node) -> None:
        """mish(x) = x * tanh(softplus(x))."""
        x, y, name = node.inputs[0], node.outputs[0], node.name
        sp, t = self.fresh(f"{name}.softplus"), self.fresh(f"{name}.tanh")
        self.add("Softplus", [x], [sp], sp)
        self.add("Tanh", [sp], [t], t)
        self.add("Mul", [x, t], [y], name)

    def expand_layernormalization(self, node: Node) -> None:
        """(x - mean) / sqrt(var + eps) * Scale + B over the axes from `axis` to the last, as exporters
        wrote it before opset 17. The axes must be given from the end (axis < 0): rank is unknown here."""
        axis = int(node.attrs.get("axis", -1))
        if axis >= 0:
            raise ValueError(f"LayerNormalization {node.name!r} with axis={axis} >= 0 needs opset 17 to export")
        if len(node.outputs) > 1 and any(node.outputs[1:]):
            raise ValueError(f"LayerNormalization {node.name!r}: Mean/InvStdDev outputs need opset 17")
        x, scale = node.inputs[0], node.inputs[1]
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        name, y = node.name, node.outputs[0]
        axes = list(range(axis, 0))
        mean, d, d2, var, ve, sd, norm = (self.fresh(f"{name}.{s}") for s in
                                          ("mean", "d", "d2", "var", "var_eps", "std", "norm"))
        self.add("ReduceMean", [x], [mean], mean, axes=axes, keepdims=1)
        self.add("Sub", [x, mean], [d], d)
        self.add("Mul", [d, d], [d2], d2)
        self.add("ReduceMean", [d2], [var], var, axes=axes, keepdims=1)
        eps = float(node.attrs.get("epsilon", 1e-5))
        self.add("Add", [var, self.constant(f"{name}.eps", eps)], [ve], ve)
        self.add("Sqrt", [ve], [sd], sd)
        self.add("Div", [d, sd], [norm], norm)
        if bias:
            scaled = self.fresh(f"{name}.scaled")
            self.add("Mul", [norm, scale], [scaled], scaled)
            self.add("Add", [scaled, bias], [y], name)
        else:
            self.add("Mul", [norm, scale], [y], name)

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


def _schema_attributes(op: str, opset: int):
    """Attribute names ONNX defines for `op` at `opset`, or None for an op ONNX does not know."""
    import onnx

    try:
        return set(onnx.defs.get_schema(op, opset, "").attributes)
    except Exception:  # not an ONNX op at this opset: keep everything
        return None


def _is_default(key: str, value) -> bool:
    """The value that means 'feature off' for an attribute a later opset added: dilations of ones
    (pooling, opset 19), else 0 / empty (Reshape allowzero, opset 14)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) == 0 or (key == "dilations" and all(int(v) == 1 for v in value))
    return value is None or value == 0 or value == ""


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
