"""ONNX -> jitmnn Graph. One function per ONNX op (STYLE 14: the converter mirrors the ops), collected
in CONVERTERS by the `@converts` decorator.

Each function turns one ONNX node into IR nodes with opset-13 semantics: configuration older opsets
passed as attributes (Squeeze/Unsqueeze axes, Clip min/max, Slice starts/ends, Split split, Pad pads,
Resize-10 scales) becomes a constant input; Conv/ConvTranspose/pool defaults are written out; Constant
nodes become graph constants. Every op type without a converter is collected while the rest of the
model converts, so the user sees all unsupported ops in one error, not the first one.

Deliberate IR choices beyond opset 13 (documented here because the runtime's shape rules rely on them):
- Reduce* ops keep `axes` as an attribute (as ReduceMean does), whatever the opset: an axes input
  (ReduceSum-13, Reduce*-18) must be a constant and is moved into the attribute.
- Softmax/LogSoftmax of opset < 13 (flatten-to-2D semantics) become the opset-13 op when the axis is
  the last one, and Flatten -> Softmax(-1) -> Reshape(Shape(x)) otherwise.
- ConstantOfShape's tensor attribute `value` is stored as a Python number plus `value_dtype`, because
  attributes are JSON in the .jmnn header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConversionError
from ..graph import Graph, Node, TensorInfo, contiguous
from ..ops import registry
from .signature import onnx_signature

MIN_OPSET = 7  # before 7, elementwise ops had the legacy `broadcast`/`axis` attributes
# Older models are upgraded to this opset with onnx.version_converter before import (not by hand).
UPGRADE_TO_OPSET = 13

CONVERTERS: dict = {}  # ONNX op type -> [(first opset, last opset or None, converter)]

# ONNX TensorProto element type -> numpy dtype name, for what jitmnn can hold.
ONNX_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
    # ml_dtypes' numpy types (onnx depends on ml_dtypes; importing this module registers them): no Numba
    # kernel takes them, so the ops touching them run their numpy reference.
    16: "bfloat16", 17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2", 20: "float8_e5m2fnuz",
    21: "uint4", 22: "int4", 23: "float4_e2m1fn", 24: "float8_e8m0fnu", 25: "uint2", 26: "int2",
}

# Stored weight dtypes: half-precision ONNX constants are widened (the runtime computes in fp32);
# the converter's own fp16/bf16 options are the way to store them compactly.
WIDEN_CONSTANTS = {"float16": "float32", "bfloat16": "float32"}


def converts(*op_types, opsets=(1, None)):
    """Register `fn(node, imp) -> list[Node]` as the converter of these ONNX op types for the model opsets
    in `opsets` = (first, last or None), as ONNX Runtime registers kernels by opset range."""
    first, last = opsets

    def deco(fn):
        for op in op_types:
            CONVERTERS.setdefault(op, []).append((first, last, fn))
        return fn

    return deco


def converter_for(op: str, opset: int):
    """The converter registered for `op` at this opset, or None."""
    for first, last, fn in CONVERTERS.get(op, ()):
        if first <= opset and (last is None or opset <= last):
            return fn
    return None


@dataclass
class OnnxNode:
    """An ONNX node with attributes decoded to plain Python values (bytes -> str, tensors -> ndarray)."""

    name: str
    op: str
    inputs: list
    outputs: list
    attrs: dict
    domain: str = ""

    def attr(self, key, default=None):
        return self.attrs.get(key, default)


@dataclass
class Importer:
    """State shared by the per-op converters: the opset, constants seen so far, tensor ranks from ONNX
    shape inference (when it could tell), and name generation."""

    opset: int
    constants: dict
    ranks: dict = field(default_factory=dict)
    static_shapes: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    _names: set = field(default_factory=set)
    source_opset: int = 0  # the opset the file declared, before any version_converter upgrade

    def const(self, name):
        """The value of a tensor if it is a constant (initializer or Constant node), else None."""
        return self.constants.get(name) if name else None

    def rank(self, name):
        return self.ranks.get(name)

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self._names or name in self.constants:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def add_const(self, base: str, value) -> str:
        name = self.unique(base)
        self.constants[name] = np.asarray(value)
        return name

    def ints_const(self, node: OnnxNode, what: str, values) -> str:
        return self.add_const(f"{node.name}.{what}", np.asarray(values, dtype=np.int64))


def _fail(node: OnnxNode, msg: str):
    raise ConversionError(f"node {node.name!r} ({node.op}): {msg}")


def _ir(node: OnnxNode, op=None, inputs=None, outputs=None, attrs=None) -> Node:
    return Node(node.name, op or node.op, list(node.inputs if inputs is None else inputs),
                list(node.outputs if outputs is None else outputs), dict(node.attrs if attrs is None else attrs))


def _trim(inputs: list) -> list:
    """Drop trailing omitted optional inputs."""
    inputs = list(inputs)
    while inputs and not inputs[-1]:
        inputs.pop()
    return inputs


# ----- simple ops: attributes pass through, defaults written out where ONNX has them ----------------------

_PASSTHROUGH = [
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf", "Reciprocal", "Floor", "Ceil",
    "Round", "Sin", "Cos", "Not", "Softplus", "Softsign", "Sign", "Mish", "HardSwish",
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Equal", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "And", "Or", "Xor", "Where",
    "Shape", "Size", "Expand", "Tile", "Range", "MatMul", "GlobalAveragePool", "GlobalMaxPool", "NonZero",
]
_DEFAULTS = {
    "Concat": {},
    "Transpose": {},
    "Reshape": {"allowzero": 0},
    "Flatten": {"axis": 1},
    "Gather": {"axis": 0},
    "GatherElements": {"axis": 0},
    "Gemm": {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
    "LeakyRelu": {"alpha": 0.01},
    "Elu": {"alpha": 1.0},
    "Selu": {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "Gelu": {"approximate": "none"},
    "LayerNormalization": {"axis": -1, "epsilon": 1e-5, "stash_type": 1},
    "InstanceNormalization": {"epsilon": 1e-5},
    "DepthToSpace": {"mode": "DCR"},
    "SpaceToDepth": {},
    "ArgMax": {"axis": 0, "keepdims": 1, "select_last_index": 0},
    "ArgMin": {"axis": 0, "keepdims": 1, "select_last_index": 0},
    "CumSum": {"exclusive": 0, "reverse": 0},
}


@converts(*_PASSTHROUGH)
def _passthrough(node, imp):
    return [_ir(node)]


@converts(*_DEFAULTS)
def _with_defaults(node, imp):
    attrs = {**_DEFAULTS[node.op], **node.attrs}
    if node.op == "Gelu" and attrs["approximate"] not in ("none", "tanh"):
        _fail(node, f"approximate={attrs['approximate']!r} is not 'none' or 'tanh'")
    if node.op == "DepthToSpace" and attrs["mode"] not in ("DCR", "CRD"):
        _fail(node, f"mode={attrs['mode']!r} is not DCR or CRD")
    return [_ir(node, attrs=attrs)]


@converts("DFT", opsets=(17, 19))
def _dft_17(node, imp):
    """DFT-17 takes its axis as an attribute defaulting to 1 (DFT-20: an input defaulting to -2): written out."""
    return [_ir(node, attrs={"axis": 1, **node.attrs})]


@converts("RoiAlign", opsets=(10, 15))
def _roi_align_10(node, imp):
    """RoiAlign-10 had no coordinate_transformation_mode and behaved as 'output_half_pixel' (the opset-16
    default is 'half_pixel'): written out so the op sees the old behaviour."""
    return [_ir(node, attrs={"coordinate_transformation_mode": "output_half_pixel", **node.attrs})]


@converts("PRelu")
def _prelu(node, imp):
    """Before opset 7 a 1-D slope ran along the channel axis (axis 1); onnx.version_converter does not rewrite
    that, so such a slope constant is reshaped to (C, 1, ..., 1) for numpy-style broadcasting."""
    slope = imp.const(node.inputs[1]) if len(node.inputs) > 1 else None
    rank = imp.rank(node.inputs[0])
    if 0 < imp.source_opset < 7 and slope is not None and np.ndim(slope) == 1 and np.size(slope) > 1 and rank:
        name = imp.add_const(f"{node.name}.slope", np.asarray(slope).reshape((-1,) + (1,) * (rank - 2)))
        return [_ir(node, inputs=[node.inputs[0], name])]
    return [_ir(node)]


@converts("Identity", "Dropout")
def _identity(node, imp):
    """Dropout is Identity at inference; the identity-removal pass then drops both. A Dropout whose mask
    output is used, or whose training_mode (opset 12+) is a graph input, stays a Dropout node
    (ops/dropout.py: the input and an all-true mask; training_mode true with ratio > 0 is refused at run
    time). Training with ratio > 0 is random by definition, so a constant true is refused here."""
    if node.op == "Dropout":
        mode_name = node.inputs[2] if len(node.inputs) > 2 else ""
        mode = imp.const(mode_name) if mode_name else np.array(False)
        if mode is not None and bool(np.asarray(mode).reshape(-1)[0]):
            ratio_name = node.inputs[1] if len(node.inputs) > 1 else ""
            ratio = imp.const(ratio_name) if ratio_name else node.attr("ratio", 0.5)
            if ratio is None or float(np.asarray(ratio).reshape(-1)[0]) > 0:
                _fail(node, "training_mode=true with ratio > 0 drops random elements: training only, "
                            "jitmnn runs inference only")
        if mode is None or (len(node.outputs) > 1 and node.outputs[1]):
            return [_ir(node, inputs=_trim(node.inputs), outputs=_trim(node.outputs))]
    return [_ir(node, op="Identity", inputs=node.inputs[:1], outputs=node.outputs[:1], attrs={})]


@converts("Cast")
def _cast(node, imp):
    to = node.attr("to")
    if to not in ONNX_DTYPES:
        _fail(node, f"cast to ONNX type {to} is not supported")
    attrs = {"to": int(to)}
    if "saturate" in node.attrs:  # opset 19+: float8 targets clamp to their range (default 1)
        attrs["saturate"] = int(node.attr("saturate"))
    if "round_mode" in node.attrs:  # opset 25+: rounding to float8e8m0
        attrs["round_mode"] = str(node.attr("round_mode"))
        if attrs["round_mode"] not in ("up", "down", "nearest"):
            _fail(node, f"round_mode={attrs['round_mode']!r} is not 'up', 'down' or 'nearest'")
    return [_ir(node, attrs=attrs)]


@converts("ConstantOfShape")
def _constant_of_shape(node, imp):
    value = node.attr("value")
    arr = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    if arr.size != 1:
        _fail(node, "value must hold exactly one element")
    return [_ir(node, attrs={"value": arr[0].item(), "value_dtype": arr.dtype.name})]


@converts("BatchNormalization")
def _batchnorm(node, imp):
    if node.attr("training_mode", 0):
        _fail(node, "training_mode=1 is not supported (inference only)")
    if len([o for o in node.outputs if o]) > 1:
        _fail(node, "running-statistics outputs are training-only")
    if imp.opset < 9 and node.attr("spatial", 1) != 1:
        _fail(node, "spatial=0 (per-activation statistics) is not supported")
    return [_ir(node, outputs=node.outputs[:1], attrs={"epsilon": float(node.attr("epsilon", 1e-5))})]


# ----- softmax family: opset < 13 flattens to 2-D around `axis` -------------------------------------------

@converts("Softmax", "LogSoftmax", "Hardmax", opsets=(13, None))
def _softmax(node, imp):
    return [_ir(node, attrs={"axis": int(node.attr("axis", -1))})]


@converts("Softmax", "LogSoftmax", "Hardmax", opsets=(1, 12))
def _softmax_coerced(node, imp):
    axis = int(node.attr("axis", 1))
    if axis == -1:
        return [_ir(node, attrs={"axis": -1})]
    # Opset < 13: the input is coerced to 2-D at `axis` and normalised over everything from it on. The op
    # does that itself (`coerce_2d`), since the rank is known only at plan time; on the last axis it is the
    # same as the opset-13 op.
    return [_ir(node, attrs={"axis": axis, "coerce_2d": 1})]


# ----- ops whose opset-13 configuration inputs were attributes before -------------------------------------

@converts("Squeeze", "Unsqueeze", "Clip", "Slice", opsets=(13, None))
@converts("Clip", "Slice", opsets=(11, 12))
@converts("Slice", opsets=(10, 10))
def _config_inputs(node, imp):
    """The opset-13 form: configuration (axes, min/max, starts/ends) arrives as inputs already."""
    return [_ir(node, inputs=_trim(node.inputs), attrs={})]


@converts("Squeeze", "Unsqueeze", opsets=(1, 12))
def _squeeze_axes_attr(node, imp):
    axes = node.attr("axes")
    if axes is None:
        if node.op == "Unsqueeze":
            _fail(node, "Unsqueeze needs axes")
        return [_ir(node, inputs=node.inputs[:1], attrs={})]
    return [_ir(node, inputs=[node.inputs[0], imp.ints_const(node, "axes", axes)], attrs={})]


@converts("Clip", opsets=(1, 10))
def _clip_attrs(node, imp):
    ins = [node.inputs[0]]
    lo, hi = node.attr("min"), node.attr("max")
    ins.append(imp.add_const(f"{node.name}.min", np.float32(lo)) if lo is not None else "")
    ins.append(imp.add_const(f"{node.name}.max", np.float32(hi)) if hi is not None else "")
    return [_ir(node, inputs=_trim(ins), attrs={})]


@converts("Slice", opsets=(1, 9))
def _slice_attrs(node, imp):
    starts, ends, axes = node.attr("starts"), node.attr("ends"), node.attr("axes")
    if starts is None or ends is None:
        _fail(node, "starts and ends are required")
    ins = [node.inputs[0], imp.ints_const(node, "starts", starts), imp.ints_const(node, "ends", ends)]
    if axes is not None:
        ins.append(imp.ints_const(node, "axes", axes))
    return [_ir(node, inputs=ins, attrs={})]


def _split_attrs(node) -> dict:
    attrs = {"axis": int(node.attr("axis", 0))}
    if node.attr("num_outputs") is not None:
        attrs["num_outputs"] = int(node.attr("num_outputs"))
    return attrs


@converts("Split", opsets=(13, None))
def _split(node, imp):
    return [_ir(node, inputs=_trim(node.inputs), attrs=_split_attrs(node))]


@converts("Split", opsets=(1, 12))
def _split_attr(node, imp):
    attrs = _split_attrs(node)
    split = node.attr("split")
    ins = [node.inputs[0]] + ([imp.ints_const(node, "split", split)] if split is not None else [])
    return [_ir(node, inputs=ins, attrs=attrs)]


def _pad_mode(node) -> str:
    mode = node.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        _fail(node, f"mode={mode!r} is not supported")
    return mode


@converts("Pad", opsets=(11, None))
def _pad(node, imp):
    return [_ir(node, inputs=_trim(node.inputs), attrs={"mode": _pad_mode(node)})]


@converts("Pad", opsets=(1, 10))
def _pad_attrs(node, imp):
    mode = _pad_mode(node)
    pads = node.attr("pads", node.attr("paddings"))
    if pads is None:
        _fail(node, "pads are required")
    ins = [node.inputs[0], imp.ints_const(node, "pads", pads)]
    value = float(node.attr("value", 0.0))
    if value != 0.0:
        ins.append(imp.add_const(f"{node.name}.constant_value", np.float32(value)))
    return [_ir(node, inputs=ins, attrs={"mode": mode})]


_REDUCE = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceSumSquare", "ReduceLogSumExp", "ReduceLogSum"]


@converts(*_REDUCE)
def _reduce(node, imp):
    attrs = {"keepdims": int(node.attr("keepdims", 1))}
    axes = node.attr("axes")
    if len(node.inputs) > 1 and node.inputs[1]:
        value = imp.const(node.inputs[1])
        if value is None:  # axes fed at run time: the plan is keyed on their value
            attrs["noop_with_empty_axes"] = int(node.attr("noop_with_empty_axes", 0))
            return [_ir(node, inputs=node.inputs[:2], attrs=attrs)]
        axes = [int(a) for a in np.asarray(value).reshape(-1)]
    if axes is not None and len(axes) > 0:
        attrs["axes"] = [int(a) for a in axes]
    elif node.attr("noop_with_empty_axes", 0):
        return [Node(node.name, "Identity", node.inputs[:1], node.outputs[:1], {})]
    return [_ir(node, inputs=node.inputs[:1], attrs=attrs)]


# ----- Resize / Upsample ---------------------------------------------------------------------------------

_RESIZE_MODES = ("nearest", "linear", "cubic")
_COORD_MODES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric",
                "tf_half_pixel_for_nn", "tf_crop_and_resize")
_ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _is_empty_const(imp, name) -> bool:
    v = imp.const(name)
    return v is not None and np.asarray(v).size == 0


def _resize_mode(node) -> str:
    mode = node.attr("mode", "nearest")
    return "linear" if mode == "bilinear" else mode  # Upsample-7 spelling


@converts("Upsample")
@converts("Resize", opsets=(10, 10))
def _resize_legacy(node, imp):
    """Resize-10 / Upsample: output(x) = input(x / scale); nearest takes the floor."""
    mode = _resize_mode(node)
    if node.op == "Upsample" and imp.opset < 9:
        scales = node.attr("scales")
        if scales is None:
            _fail(node, "scales are required")
        scales_in = imp.add_const(f"{node.name}.scales", np.asarray(scales, np.float32))
    else:
        scales_in = node.inputs[1]
    attrs = {"mode": mode, "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return _resize_node(node, [node.inputs[0], "", scales_in], attrs)


@converts("Resize", opsets=(11, None))
def _resize(node, imp):
    mode = _resize_mode(node)
    attrs = {
        "mode": mode,
        "coordinate_transformation_mode": node.attr("coordinate_transformation_mode", "half_pixel"),
        "nearest_mode": node.attr("nearest_mode", "round_prefer_floor"),
        "cubic_coeff_a": float(node.attr("cubic_coeff_a", -0.75)),
        "exclude_outside": int(node.attr("exclude_outside", 0)),
        "extrapolation_value": float(node.attr("extrapolation_value", 0.0)),
    }
    inputs = list(node.inputs) + [""] * (4 - len(node.inputs))
    for i in (1, 2):  # an empty roi / scales constant means "not given"
        if inputs[i] and _is_empty_const(imp, inputs[i]):
            inputs[i] = ""
    inputs = _trim(inputs)
    if int(node.attr("antialias", 0)):
        if mode == "nearest":
            _fail(node, "antialias=1 needs mode linear or cubic")
        attrs["antialias"] = 1
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in _ASPECT_POLICIES:
        _fail(node, f"keep_aspect_ratio_policy={policy!r} is not one of {', '.join(_ASPECT_POLICIES)}")
    if policy != "stretch":
        attrs["keep_aspect_ratio_policy"] = policy
    if node.attr("axes") is not None:
        attrs["axes"] = [int(a) for a in node.attr("axes")]
    return _resize_node(node, inputs, attrs)


def _resize_node(node, inputs, attrs):
    """The IR Resize node, after checking the modes the runtime implements."""
    mode = attrs["mode"]
    if mode not in _RESIZE_MODES:
        _fail(node, f"mode={mode!r} is not supported (only {', '.join(_RESIZE_MODES)})")
    if attrs["coordinate_transformation_mode"] not in _COORD_MODES:
        _fail(node, f"coordinate_transformation_mode={attrs['coordinate_transformation_mode']!r} is not supported")
    if attrs["nearest_mode"] not in _NEAREST_MODES:
        _fail(node, f"nearest_mode={attrs['nearest_mode']!r} is not supported")
    return [Node(node.name, "Resize", inputs, list(node.outputs), attrs)]


# ----- Conv, ConvTranspose and pools: every default written out --------------------------------------------

def _spatial_defaults(node, imp, kernel_shape, with_dilations=True):
    """strides, pads, dilations filled; auto_pad resolved to pads when that needs no run-time shape."""
    n = len(kernel_shape)
    strides = [int(s) for s in node.attr("strides", [1] * n)]
    dilations = [int(d) for d in node.attr("dilations", [1] * n)]
    pads = [int(p) for p in node.attr("pads", [0] * (2 * n))]
    if len(strides) != n or len(dilations) != n or len(pads) != 2 * n:
        _fail(node, f"strides {strides} / dilations {dilations} / pads {pads} do not match kernel_shape {kernel_shape}")
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dilations) or any(p < 0 for p in pads):
        _fail(node, f"invalid strides {strides}, dilations {dilations} or pads {pads}")
    attrs = {"kernel_shape": [int(k) for k in kernel_shape], "strides": strides, "pads": pads}
    if with_dilations:
        attrs["dilations"] = dilations
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad == "VALID":
        attrs["pads"] = [0] * (2 * n)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        resolved = _resolve_same(node, imp, kernel_shape, strides, dilations, auto_pad)
        if resolved is None:
            del attrs["pads"]
            attrs["auto_pad"] = auto_pad
        else:
            attrs["pads"] = resolved
    elif auto_pad != "NOTSET":
        _fail(node, f"auto_pad={auto_pad!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    return attrs


def _resolve_same(node, imp, kernel_shape, strides, dilations, auto_pad):
    n = len(kernel_shape)
    in_shape = imp.static_shapes.get(node.inputs[0])
    begin, end = [], []
    for i in range(n):
        eff = (kernel_shape[i] - 1) * dilations[i] + 1
        if strides[i] == 1:
            total = eff - 1
        elif in_shape is not None and len(in_shape) == n + 2 and in_shape[2 + i]:
            size = in_shape[2 + i]
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + eff - size)
        else:
            return None  # depends on the run-time input size: the shape rule resolves auto_pad
        small, big = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else big)
        end.append(big if auto_pad == "SAME_UPPER" else small)
    return begin + end


def _weight_shape(node, imp):
    w = imp.const(node.inputs[1]) if len(node.inputs) > 1 else None
    if w is not None:
        return tuple(w.shape)
    return imp.static_shapes.get(node.inputs[1]) if len(node.inputs) > 1 else None


def _kernel_shape(node, imp):
    """(kernel_shape, weight shape or None): the attribute, else the weight's spatial dims."""
    kernel_shape = node.attr("kernel_shape")
    wshape = _weight_shape(node, imp)
    if kernel_shape is None:
        if wshape is None:
            _fail(node, "kernel_shape is missing and the weight shape is unknown")
        kernel_shape = list(wshape[2:])
    return kernel_shape, wshape


@converts("Conv")
def _conv(node, imp):
    kernel_shape, wshape = _kernel_shape(node, imp)
    if wshape is not None and list(wshape[2:]) != [int(k) for k in kernel_shape]:
        _fail(node, f"kernel_shape {kernel_shape} does not match the weight shape {wshape}")
    attrs = _spatial_defaults(node, imp, kernel_shape)
    attrs["group"] = int(node.attr("group", 1))
    if attrs["group"] <= 0:
        _fail(node, f"group={attrs['group']}")
    return [_ir(node, inputs=_trim(node.inputs), attrs=attrs)]


@converts("ConvTranspose")
def _conv_transpose(node, imp):
    kernel_shape, wshape = _kernel_shape(node, imp)
    n = len(kernel_shape)
    auto_pad = node.attr("auto_pad", "NOTSET")
    plain = OnnxNode(node.name, node.op, node.inputs, node.outputs,
                     {k: v for k, v in node.attrs.items() if k != "auto_pad"})
    attrs = _spatial_defaults(plain, imp, kernel_shape)
    attrs["group"] = int(node.attr("group", 1))
    attrs["output_padding"] = [int(p) for p in node.attr("output_padding", [0] * n)]
    if node.attr("output_shape") is not None:
        attrs["output_shape"] = [int(s) for s in node.attr("output_shape")]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # Output = input * stride; total padding does not depend on the input size. An odd total is
        # split differently by ONNX spec revisions and runtimes, so only the unambiguous case resolves.
        totals = [(kernel_shape[i] - 1) * attrs["dilations"][i] + 1 + attrs["output_padding"][i] - attrs["strides"][i]
                  for i in range(n)]
        if all(t >= 0 and t % 2 == 0 for t in totals):
            attrs["pads"] = [t // 2 for t in totals] * 2
        else:
            del attrs["pads"]
            attrs["auto_pad"] = auto_pad
    elif auto_pad == "VALID":
        attrs["pads"] = [0] * (2 * n)
    elif auto_pad != "NOTSET":
        _fail(node, f"auto_pad={auto_pad!r} is not supported")
    return [_ir(node, inputs=_trim(node.inputs), attrs=attrs)]


@converts("MaxPool", "AveragePool", "LpPool")
def _pool(node, imp):
    if len(node.outputs) > 1 and node.outputs[1] and node.op != "MaxPool":
        _fail(node, "only MaxPool has a second (Indices) output")
    kernel_shape = node.attr("kernel_shape")
    if kernel_shape is None:
        _fail(node, "kernel_shape is required")
    attrs = _spatial_defaults(node, imp, kernel_shape)
    attrs["ceil_mode"] = int(node.attr("ceil_mode", 0))
    if node.op == "AveragePool":
        attrs["count_include_pad"] = int(node.attr("count_include_pad", 0))
    if node.op == "MaxPool" and node.attr("storage_order", 0):
        attrs["storage_order"] = int(node.attr("storage_order"))
    if node.op == "LpPool":
        attrs["p"] = int(node.attr("p", 2))
    return [_ir(node, outputs=_trim(node.outputs), attrs=attrs)]


# ----- the model ----------------------------------------------------------------------------------------

def _decode_attr(a):
    import onnx
    from onnx import numpy_helper

    if a.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(a.t)
    if a.type == onnx.AttributeProto.GRAPH:
        return _Subgraph(a.g)
    if a.type == onnx.AttributeProto.GRAPHS:
        raise _SubgraphAttr(a.name)
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode() for s in v]
    return v


class _SubgraphAttr(Exception):
    pass


@dataclass
class _Subgraph:
    """A GRAPH attribute (If branches, Loop/Scan bodies) until its op's converter encodes it."""

    proto: object


def _free_names(g) -> list:
    """Names a subgraph reads from the enclosing scopes (not its inputs, initializers or node outputs),
    nested subgraphs included, in first-use order."""
    import onnx

    defined = {i.name for i in g.input} | {t.name for t in g.initializer}
    free: list = []

    def use(name):
        if name and name not in defined and name not in free:
            free.append(name)

    for n in g.node:
        for i in n.input:
            use(i)
        for a in n.attribute:
            subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for sub in subs:
                for i in _free_names(sub):
                    use(i)
        defined.update(o for o in n.output if o)
    return free


@converts("If", "Loop", "Scan", "ai.onnx.preview::FlexAttention")
def _control_flow(node, imp):
    """Subgraph ops: each GRAPH attribute is kept as the serialized ONNX graph (base64, since attributes are
    JSON in the .jmnn header), and the values the bodies read from the enclosing graph become extra inputs
    (`outer_inputs`), so the executor hands them over like any other input. jitmnn/ops/control_flow.py runs
    the bodies, each as a jitmnn graph of its own."""
    import base64

    attrs, outer = {}, []
    for key, value in node.attrs.items():
        if isinstance(value, _Subgraph):
            for name in _free_names(value.proto):
                if name not in outer:
                    outer.append(name)
            attrs[key] = base64.b64encode(value.proto.SerializeToString()).decode()
        else:
            attrs[key] = value
    attrs.update({"n_inputs": len(node.inputs), "outer_inputs": outer, "opset": imp.opset})
    return [_ir(node, inputs=list(node.inputs) + outer, attrs=attrs)]


def _constant_value(node: OnnxNode):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            v = node.attrs[key]
            if key in ("value_float", "value_floats"):
                return np.asarray(v, np.float32)
            if key in ("value_int", "value_ints"):
                return np.asarray(v, np.int64)
            return np.asarray(v)
    _fail(node, f"unsupported Constant attribute(s) {sorted(node.attrs)} (sparse or string constants)")


def _to_constant(name, arr, warnings) -> np.ndarray:
    arr = np.asarray(arr)
    dt = arr.dtype.name
    if dt in WIDEN_CONSTANTS:
        flag = {"float16": "fp16", "bfloat16": "bf16"}[dt]
        note = f"{dt} constants widened to {WIDEN_CONSTANTS[dt]} (convert with {flag}=True to store weights compactly)"
        if note not in warnings:
            warnings.append(note)
        return arr.astype(WIDEN_CONSTANTS[dt])
    if dt not in ONNX_DTYPES.values():
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64)
        raise ConversionError(f"constant {name!r} has dtype {dt}, which jitmnn cannot store")
    return contiguous(arr)


def _value_infos(model):
    """Ranks and static shapes of every tensor ONNX shape inference could work out (best effort)."""
    import onnx

    ranks, shapes = {}, {}
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shape inference is advisory; a model it cannot handle still converts
        inferred = model
    g = inferred.graph
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim]
        ranks[vi.name] = len(dims)
        shapes[vi.name] = tuple(dims)
    return ranks, shapes


def _upgrade_opset(model, opset: int, warnings: list):
    """An opset older than MIN_OPSET (legacy broadcast/axis attributes, consumed_inputs, ...) upgraded by
    onnx.version_converter; the convert report says so."""
    from onnx import version_converter

    try:
        upgraded = version_converter.convert_version(model, UPGRADE_TO_OPSET)
    except Exception as e:  # the converter raises RuntimeError/ValueError subclasses of its own
        raise ConversionError(f"opset {opset} is older than {MIN_OPSET} and onnx.version_converter could not "
                              f"upgrade it to opset {UPGRADE_TO_OPSET}: {e}") from e
    warnings.append(f"opset {opset} upgraded to opset {UPGRADE_TO_OPSET} with onnx.version_converter")
    new = next((o.version for o in upgraded.opset_import if o.domain in ("", "ai.onnx")), UPGRADE_TO_OPSET)
    return upgraded, int(new)


def load_model(src):
    """(ModelProto, file size or 0, display name) from a path or a ModelProto; unreadable -> ConversionError."""
    import os

    import onnx
    from google.protobuf.message import DecodeError

    if not isinstance(src, (str, bytes, os.PathLike)):
        if not isinstance(src, onnx.ModelProto):
            raise ConversionError(f"expected an ONNX file path or onnx.ModelProto, got {type(src).__name__}")
        return src, 0, "<ModelProto>"
    path = os.fsdecode(src)
    try:
        model = onnx.load(path)
    except FileNotFoundError as e:
        raise ConversionError(f"ONNX model not found: {path}") from e
    except (OSError, DecodeError, ValueError) as e:
        raise ConversionError(f"cannot read {path} as an ONNX model: {e}") from e
    return model, os.path.getsize(path), path


def import_onnx(src, check_runtime: bool = True, warnings: list | None = None) -> Graph:
    """Load an ONNX model (path or ModelProto) into a Graph, before any optimisation pass.

    Raises UnsupportedOpError naming every op type that has no converter (and, with check_runtime,
    every converted op the runtime registry lacks), and ConversionError for unsupported attributes."""
    from onnx import numpy_helper

    import ml_dtypes  # noqa: F401  (registers bfloat16, float8_*, int4, ... with numpy by name)

    from .checks import unsupported_ops

    model, _, _ = load_model(src)
    signature = onnx_signature(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ConversionError("the model imports no default-domain (ai.onnx) opset")
    warns = warnings if warnings is not None else []
    source_opset = opset
    if opset < MIN_OPSET:
        model, opset = _upgrade_opset(model, opset, warns)
    g = model.graph
    constants = {}
    for init in g.initializer:
        constants[init.name] = _to_constant(init.name, numpy_helper.to_array(init), warns)
    ranks, static_shapes = _value_infos(model)
    imp = Importer(opset, constants, ranks, static_shapes, warns)
    imp.source_opset = source_opset
    for n in g.node:  # generated names must not collide with any existing node or tensor name
        imp._names.update([n.name, *n.input, *n.output])
    imp._names.update(vi.name for vi in g.input)

    nodes, missing = [], []
    for i, pn in enumerate(g.node):
        name = pn.name or imp.unique(f"{pn.op_type}_{i}")
        op = pn.op_type if pn.domain in ("", "ai.onnx") else f"{pn.domain}::{pn.op_type}"
        try:
            attrs = {a.name: _decode_attr(a) for a in pn.attribute}
        except _SubgraphAttr:
            missing.append(op)
            continue
        node = OnnxNode(name, op, list(pn.input), list(pn.output), attrs, pn.domain)
        if op == "Constant":
            constants[node.outputs[0]] = _to_constant(node.outputs[0], _constant_value(node), warns)
            continue
        fn = converter_for(op, opset)
        if fn is None and registry.has_op(op):
            fn = _passthrough  # an op whose OpDef reads ONNX's own attributes (and their defaults)
        if fn is None:
            missing.append(op)
            nodes.append(_ir(node))  # kept so the rest converts and every missing op is named at once
            continue
        nodes.extend(fn(node, imp))
    _dedupe_names(nodes)
    _name_omitted_outputs(nodes, imp)

    init_names = set(constants)
    inputs = []
    for vi in g.input:
        if vi.name in init_names:
            continue  # old exporters list initializers as inputs too
        t = vi.type.tensor_type
        dtype = ONNX_DTYPES.get(t.elem_type)
        if dtype is None:
            raise ConversionError(f"graph input {vi.name!r} has ONNX element type {t.elem_type}, which jitmnn"
                                  " cannot take")
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim)
        inputs.append(TensorInfo(vi.name, shape, dtype))
    graph = Graph(g.name or "model", nodes, inputs, [o.name for o in g.output], constants,
                  metadata={"source_format": "onnx", "opset": int(opset),
                            "producer": f"{model.producer_name} {model.producer_version}".strip(),
                            "onnx": signature})
    if missing or check_runtime:
        bad = set(missing) | (unsupported_ops(graph) if check_runtime else set())
        if bad:
            from ..errors import UnsupportedOpError

            raise UnsupportedOpError(bad)
    graph.validate()
    return graph


def _name_omitted_outputs(nodes, imp) -> None:
    """An omitted optional output in the middle of a node's outputs ("", e.g. LSTM's Y when only Y_h is
    wanted) gets a private name: the kernel still writes it somewhere, and nothing reads it."""
    for n in nodes:
        while n.outputs and not n.outputs[-1]:
            n.outputs.pop()
        for i, o in enumerate(n.outputs):
            if not o:
                n.outputs[i] = imp.unique(f"{n.name}.unused_output{i}")


def _dedupe_names(nodes):
    seen = set()
    for n in nodes:
        base, i = n.name, 1
        while n.name in seen:
            n.name, i = f"{base}_{i}", i + 1
        seen.add(n.name)
