"""Unary references in float64 with the textbook formulas (math.erf per element for Erf/Gelu)."""

import math

import numpy as np


def _f(x):
    return np.asarray(x, np.float64)


def _clip(attrs, x):
    lo = x[1] if len(x) > 1 and x[1] is not None else attrs.get("min", -np.inf)
    hi = x[2] if len(x) > 2 and x[2] is not None else attrs.get("max", np.inf)
    return [np.minimum(np.maximum(_f(x[0]), float(lo)), float(hi))]


_erf = np.vectorize(math.erf)


def _each(x, fn, otype=float):
    """fn on every element of x[0] as a Python float."""
    return np.vectorize(fn, otypes=[otype])(_f(x[0]))


def _shrink(v, lambd, bias):
    if v > lambd:
        return v - bias
    if v < -lambd:
        return v + bias
    return 0.0


def _sigmoid(t):
    return 1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))


def _gelu(attrs, x):
    v = _f(x[0])
    if attrs.get("approximate", "none") == "tanh":
        return [0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))]
    return [0.5 * v * (1 + _erf(v / math.sqrt(2)))]


REFERENCES = {
    "Relu": lambda attrs, x: [np.where(x[0] > 0, x[0], 0.0)],
    "Clip": _clip,
    "Sigmoid": lambda attrs, x: [1 / (1 + np.exp(-_f(x[0])))],
    "HardSigmoid": lambda attrs, x: [np.minimum(np.maximum(attrs.get("alpha", 0.2) * _f(x[0]) + attrs.get("beta", 0.5), 0), 1)],
    "HardSwish": lambda attrs, x: [_f(x[0]) * np.minimum(np.maximum(_f(x[0]) + 3, 0), 6) / 6],
    "Tanh": lambda attrs, x: [np.tanh(_f(x[0]))],
    "Sqrt": lambda attrs, x: [np.sqrt(_f(x[0]))],
    "Exp": lambda attrs, x: [np.exp(_f(x[0]))],
    "Log": lambda attrs, x: [np.log(_f(x[0]))],
    "Neg": lambda attrs, x: [-_f(x[0])],
    "Abs": lambda attrs, x: [np.abs(_f(x[0]))],
    "Reciprocal": lambda attrs, x: [1 / _f(x[0])],
    "Erf": lambda attrs, x: [_erf(_f(x[0]))],
    "Gelu": _gelu,
    "LeakyRelu": lambda attrs, x: [np.where(_f(x[0]) >= 0, _f(x[0]), _f(x[0]) * attrs.get("alpha", 0.01))],
    "Softplus": lambda attrs, x: [np.log1p(np.exp(-np.abs(_f(x[0])))) + np.maximum(_f(x[0]), 0)],
    "Identity": lambda attrs, x: [np.array(x[0])],
    "Floor": lambda attrs, x: [np.vectorize(math.floor, otypes=[float])(x[0])],
    "Ceil": lambda attrs, x: [np.vectorize(math.ceil, otypes=[float])(x[0])],
    "Round": lambda attrs, x: [np.vectorize(round, otypes=[float])(_f(x[0]))],  # Python rounds half to even
    "Sign": lambda attrs, x: [np.vectorize(lambda v: (v > 0) - (v < 0), otypes=[float])(x[0])],
    "Sin": lambda attrs, x: [np.vectorize(math.sin)(_f(x[0]))],
    "Cos": lambda attrs, x: [np.vectorize(math.cos)(_f(x[0]))],
    "Softsign": lambda attrs, x: [_f(x[0]) / (1 + np.abs(_f(x[0])))],
    "Mish": lambda attrs, x: [np.vectorize(lambda v: v * math.tanh(math.log1p(math.exp(-abs(v))) + max(v, 0)))(_f(x[0]))],
    "Elu": lambda attrs, x: [np.vectorize(lambda v: v if v >= 0 else attrs.get("alpha", 1.0) * math.expm1(v))(_f(x[0]))],
    "Selu": lambda attrs, x: [np.vectorize(lambda v: attrs.get("gamma", 1.0507009873554805) * (
        v if v > 0 else attrs.get("alpha", 1.6732632423543772) * math.expm1(v)))(_f(x[0]))],
    "Celu": lambda attrs, x: [_each(x, lambda v: v if v > 0 else attrs.get("alpha", 1.0) * math.expm1(v / attrs.get("alpha", 1.0)))],
    "ThresholdedRelu": lambda attrs, x: [_each(x, lambda v: v if v > attrs.get("alpha", 1.0) else 0.0)],
    "Shrink": lambda attrs, x: [_each(x, lambda v: _shrink(v, attrs.get("lambd", 0.5), attrs.get("bias", 0.0)))],
    "Swish": lambda attrs, x: [_each(x, lambda v: v * _sigmoid(attrs.get("alpha", 1.0) * v))],
    "Tan": lambda attrs, x: [_each(x, math.tan)],
    "Asin": lambda attrs, x: [_each(x, math.asin)],
    "Acos": lambda attrs, x: [_each(x, math.acos)],
    "Atan": lambda attrs, x: [_each(x, math.atan)],
    "Sinh": lambda attrs, x: [_each(x, math.sinh)],
    "Cosh": lambda attrs, x: [_each(x, math.cosh)],
    "Asinh": lambda attrs, x: [_each(x, math.asinh)],
    "Acosh": lambda attrs, x: [_each(x, math.acosh)],
    "Atanh": lambda attrs, x: [_each(x, math.atanh)],
    "IsNaN": lambda attrs, x: [_each(x, math.isnan, bool)],
    "IsInf": lambda attrs, x: [_each(x, lambda v: math.isinf(v) and bool(
        attrs.get("detect_positive", 1) if v > 0 else attrs.get("detect_negative", 1)), bool)],
}
