"""Unary elementwise ops: shape rule = identity; one kernel (kernels/unary.py) selected by op code.

Relu, Clip (min/max as optional inputs, or opset<11 attributes), Sigmoid, HardSigmoid, HardSwish (our IR
op), Tanh, Sqrt, Exp, Log, Neg, Abs, Reciprocal, Erf, Gelu, LeakyRelu, Softplus; the rarer Floor, Ceil,
Round, Sign, Sin, Cos, Softsign, Mish, Elu, Selu, Celu, ThresholdedRelu, Shrink, Swish; the trigonometric
and hyperbolic Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh; IsNaN and IsInf (bool out, numpy
only); Identity is a free view. Non-float32 tensors (integers, float16, bfloat16, ...) run the numpy
reference, which computes floats in float64 and casts back to the input dtype."""

import math
from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import unary as K

from ..errors import ShapeError
from . import _util as U
from .registry import CONVERTS, Algorithm, OpDef, register_algorithm, register_op

# Transcendental loops cost several times a copy (exp/tanh/erf are not vectorised without SVML).
_CODES = {
    "Relu": (K.RELU, 1.0), "Clip": (K.CLIP, 1.0), "Sigmoid": (K.SIGMOID, 6.0), "HardSigmoid": (K.HARDSIGMOID, 1.0),
    "HardSwish": (K.HARDSWISH, 1.0), "Tanh": (K.TANH, 8.0), "Sqrt": (K.SQRT, 1.5), "Exp": (K.EXP, 6.0),
    "Neg": (K.NEG, 1.0), "Erf": (K.ERF, 8.0), "Gelu": (K.GELU, 10.0), "LeakyRelu": (K.LEAKYRELU, 1.0),
    "Abs": (K.ABS, 1.0), "Log": (K.LOG, 6.0), "Reciprocal": (K.RECIPROCAL, 1.5), "Softplus": (K.SOFTPLUS, 12.0),
}
# Ops served by the second kernel (K.unary_more), compiled only by models that use them.
_MORE = {
    "Floor": (K.FLOOR, 1.0), "Ceil": (K.CEIL, 1.0), "Round": (K.ROUND, 1.0), "Sign": (K.SIGN, 1.0),
    "Sin": (K.SIN, 10.0), "Cos": (K.COS, 10.0), "Softsign": (K.SOFTSIGN, 1.5), "Mish": (K.MISH, 20.0),
    "Elu": (K.ELU, 6.0), "Selu": (K.SELU, 6.0), "Celu": (K.CELU, 6.0), "ThresholdedRelu": (K.THRESHOLDEDRELU, 1.0),
    "Shrink": (K.SHRINK, 1.0), "Swish": (K.SWISH, 6.0),
}
# Ops served by the third kernel (K.unary_trig): one float32 libm call per element.
_TRIG = {
    "Tan": (K.TAN, 12.0), "Asin": (K.ASIN, 12.0), "Acos": (K.ACOS, 12.0), "Atan": (K.ATAN, 12.0),
    "Sinh": (K.SINH, 12.0), "Cosh": (K.COSH, 12.0), "Asinh": (K.ASINH, 15.0), "Acosh": (K.ACOSH, 15.0),
    "Atanh": (K.ATANH, 15.0),
}
# fp16 storage tops out at 65504: ops that can make a value far larger than their input (Exp, Reciprocal)
# or need fp32's resolution near 1 (Log) keep float32 activations; the rest may store fp16 (precision=low).
# Tan, Sinh and Cosh grow past 65504 from inputs of modest size the same way.
_FP32_ONLY = {"Exp", "Log", "Reciprocal", "Tan", "Sinh", "Cosh"}


def _same(node, shapes, dtypes, consts):
    if not shapes or shapes[0] is None:
        raise ShapeError(f"{node.op} needs an input")
    if node.op == "Celu" and float(node.attrs.get("alpha", 1.0)) == 0.0:
        raise ShapeError("Celu attribute alpha must not be 0 (it divides x)")
    return [(shapes[0], dtypes[0])]


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(np.asarray(x, np.float64))


def _clip_bounds(node, values):
    """(min, max) from inputs 1/2 (opset >= 11) or attributes (opset 6); None for an absent bound."""
    lo = values[1] if len(values) > 1 and values[1] is not None else node.attrs.get("min")
    hi = values[2] if len(values) > 2 and values[2] is not None else node.attrs.get("max")
    return lo, hi


def _ref_clip(node, x):
    lo, hi = _clip_bounds(node, x)
    y = np.asarray(x[0])
    if lo is not None:
        y = np.maximum(y, np.asarray(lo).astype(y.dtype))
    if hi is not None:
        y = np.minimum(y, np.asarray(hi).astype(y.dtype))
    return [y]


def _gelu_ref(node, x):
    v = np.asarray(x[0], np.float64)
    if node.attrs.get("approximate", "none") == "tanh":
        return [0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))]
    return [0.5 * v * (1 + _erf(v / np.sqrt(2)))]


def _f64(fn):
    """Reference in float64, cast back to the input dtype."""
    return lambda node, x: [np.asarray(fn(node, np.asarray(x[0], np.float64))).astype(np.asarray(x[0]).dtype)]


_REFERENCES = {
    "Relu": lambda node, x: [np.maximum(x[0], 0).astype(np.asarray(x[0]).dtype)],
    "Clip": _ref_clip,
    "Sigmoid": _f64(lambda node, v: 1 / (1 + np.exp(-v))),
    "HardSigmoid": _f64(lambda node, v: np.clip(node.attrs.get("alpha", 0.2) * v + node.attrs.get("beta", 0.5), 0, 1)),
    "HardSwish": _f64(lambda node, v: v * np.clip(v + 3, 0, 6) / 6),
    "Tanh": _f64(lambda node, v: np.tanh(v)),
    "Sqrt": _f64(lambda node, v: np.sqrt(v)),
    "Exp": _f64(lambda node, v: np.exp(v)),
    "Log": _f64(lambda node, v: np.log(v)),
    "Neg": lambda node, x: [np.negative(x[0])],
    "Abs": lambda node, x: [np.abs(x[0])],
    "Reciprocal": _f64(lambda node, v: 1 / v),
    "Erf": _f64(lambda node, v: _erf(v)),
    "Gelu": lambda node, x: [_gelu_ref(node, x)[0].astype(np.asarray(x[0]).dtype)],
    "LeakyRelu": _f64(lambda node, v: np.where(v >= 0, v, v * node.attrs.get("alpha", 0.01))),
    "Softplus": _f64(lambda node, v: np.logaddexp(0, v)),
}
_SELU_ALPHA, _SELU_GAMMA = 1.6732632423543772, 1.0507009873554805
_MORE_REFERENCES = {
    "Floor": lambda node, x: [np.floor(x[0])],
    "Ceil": lambda node, x: [np.ceil(x[0])],
    "Round": lambda node, x: [np.round(x[0])],
    "Sign": lambda node, x: [np.sign(x[0])],
    "Sin": _f64(lambda node, v: np.sin(v)),
    "Cos": _f64(lambda node, v: np.cos(v)),
    "Softsign": _f64(lambda node, v: v / (1 + np.abs(v))),
    "Mish": _f64(lambda node, v: v * np.tanh(np.logaddexp(0, v))),
    "Elu": _f64(lambda node, v: np.where(v >= 0, v, node.attrs.get("alpha", 1.0) * np.expm1(np.minimum(v, 0)))),
    "Selu": _f64(lambda node, v: node.attrs.get("gamma", _SELU_GAMMA) * np.where(
        v > 0, v, node.attrs.get("alpha", _SELU_ALPHA) * np.expm1(np.minimum(v, 0)))),
    "Celu": _f64(lambda node, v: _celu(v, float(node.attrs.get("alpha", 1.0)))),
    "ThresholdedRelu": _f64(lambda node, v: np.where(v > node.attrs.get("alpha", 1.0), v, 0.0)),
    "Shrink": _f64(lambda node, v: _shrink(v, float(node.attrs.get("lambd", 0.5)), float(node.attrs.get("bias", 0.0)))),
    "Swish": _f64(lambda node, v: v / (1 + np.exp(-float(node.attrs.get("alpha", 1.0)) * v))),
}
_TRIG_REFERENCES = {
    "Tan": _f64(lambda node, v: np.tan(v)),
    "Asin": _f64(lambda node, v: np.arcsin(v)),
    "Acos": _f64(lambda node, v: np.arccos(v)),
    "Atan": _f64(lambda node, v: np.arctan(v)),
    "Sinh": _f64(lambda node, v: np.sinh(v)),
    "Cosh": _f64(lambda node, v: np.cosh(v)),
    "Asinh": _f64(lambda node, v: np.arcsinh(v)),
    "Acosh": _f64(lambda node, v: np.arccosh(v)),
    "Atanh": _f64(lambda node, v: np.arctanh(v)),
}


def _celu(v, alpha):
    return np.maximum(v, 0) + np.minimum(0, alpha * np.expm1(np.minimum(v, 0) / alpha))


def _shrink(v, lambd, bias):
    """x - bias above lambd, x + bias below -lambd, 0 in between (bias 0 = hard, bias lambd = soft)."""
    return np.where(v > lambd, v - bias, np.where(v < -lambd, v + bias, 0.0))


@dataclass(frozen=True)
class UnaryParams:
    """The kernel's op code and two float32 parameters, and the chunk count for the parallel kernel."""

    code: int
    p0: np.float32
    p1: np.float32
    nchunks: int


def _params(ctx):
    """UnaryParams for the kernel; None when a Clip bound is not known at plan time."""
    op = ctx.node.op
    code = (_CODES.get(op) or _MORE.get(op) or _TRIG[op])[0]
    p0 = p1 = 0.0
    if op == "Clip":
        if any(U.has_input(ctx.node, i) and ctx.consts[i] is None for i in (1, 2)):
            return None
        lo, hi = _clip_bounds(ctx.node, ctx.consts)
        # the spec says scalar; exporters also write shape-(1,) bounds, which ONNX Runtime accepts
        p0 = float(np.asarray(lo).reshape(-1)[0]) if lo is not None else -np.inf
        p1 = float(np.asarray(hi).reshape(-1)[0]) if hi is not None else np.inf
    elif op == "HardSigmoid":
        p0, p1 = ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5)
    elif op in ("LeakyRelu", "Elu", "Celu", "ThresholdedRelu", "Swish"):
        p0 = ctx.attr("alpha", 0.01 if op == "LeakyRelu" else 1.0)
    elif op == "Shrink":
        p0, p1 = ctx.attr("lambd", 0.5), ctx.attr("bias", 0.0)
    elif op == "Selu":
        p0, p1 = ctx.attr("alpha", _SELU_ALPHA), ctx.attr("gamma", _SELU_GAMMA)
    elif op == "Gelu" and ctx.attr("approximate", "none") == "tanh":
        code = K.GELU_TANH
    n = U.numel(ctx.out_shapes[0])
    nchunks = max(1, min(8 * max(ctx.threads, 2), n // 16384))
    return UnaryParams(code, np.float32(p0), np.float32(p1), nchunks)


def _applies(ctx):
    return U.all_f32(ctx, [0]) and _params(ctx) is not None


def _run(packed, params: UnaryParams, ins, outs, scratch):
    kern = K.unary_basic if params.code in K.BASIC else K.unary
    kern(ins[0].reshape(-1), outs[0].reshape(-1), params.code, params.p0, params.p1)


def _run_parallel(packed, params: UnaryParams, ins, outs, scratch):
    K.unary_parallel(ins[0].reshape(-1), outs[0].reshape(-1), params.code, params.p0, params.p1, params.nchunks)


def _cost(ctx):
    return U.cost_elements(ctx) * _CODES[ctx.node.op][1]


for _op, _ref in _REFERENCES.items():
    register_op(OpDef(_op, _same, _ref))
    register_algorithm(Algorithm(_op, "numba", run=_run, applies=_applies, setup=_params, cost=_cost,
                                 fp16="" if _op in _FP32_ONLY else CONVERTS,
                                 doc="one vectorised loop per op code over the flat buffer"))
    register_algorithm(Algorithm(_op, "numba_parallel", run=_run_parallel, applies=_applies, setup=_params,
                                 cost=lambda ctx: U.parallel_cost(ctx, _cost(ctx)),
                                 fp16="" if _op in _FP32_ONLY else CONVERTS,
                                 doc="unary over contiguous chunks spread across threads"))



def _run_more(packed, params: UnaryParams, ins, outs, scratch):
    K.unary_more(ins[0].reshape(-1), outs[0].reshape(-1), params.code, params.p0, params.p1)


for _op, _ref in _MORE_REFERENCES.items():
    register_op(OpDef(_op, _same, _ref))
    register_algorithm(Algorithm(_op, "numba", run=_run_more, applies=_applies, setup=_params,
                                 cost=lambda ctx: U.cost_elements(ctx) * _MORE[ctx.node.op][1],
                                 fp16=CONVERTS, doc="one loop per op code (second unary kernel)"))


def _run_trig(packed, params: UnaryParams, ins, outs, scratch):
    K.unary_trig(ins[0].reshape(-1), outs[0].reshape(-1), params.code, params.p0, params.p1)


for _op, _ref in _TRIG_REFERENCES.items():
    register_op(OpDef(_op, _same, _ref))
    register_algorithm(Algorithm(_op, "numba", run=_run_trig, applies=_applies, setup=_params,
                                 cost=lambda ctx: U.cost_elements(ctx) * _TRIG[ctx.node.op][1],
                                 fp16="" if _op in _FP32_ONLY else CONVERTS,
                                 doc="one float32 libm loop per op code (trigonometric kernel)"))


# ----- float classification: bool outputs, numpy only -------------------------------------------------------
def _same_bool(node, shapes, dtypes, consts):
    return [(_same(node, shapes, dtypes, consts)[0][0], np.bool_)]


def _is_inf(node, x):
    v = np.asarray(x[0]).astype(np.float64)
    pos, neg = int(node.attrs.get("detect_positive", 1)), int(node.attrs.get("detect_negative", 1))
    return [((v == np.inf) & bool(pos)) | ((v == -np.inf) & bool(neg))]


register_op(OpDef("IsNaN", _same_bool, lambda node, x: [np.isnan(np.asarray(x[0]).astype(np.float64))]))
register_op(OpDef("IsInf", _same_bool, _is_inf))

register_op(OpDef("Identity", _same, lambda node, x: [np.asarray(x[0]).copy()], alias_input=0))
