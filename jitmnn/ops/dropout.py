"""Dropout at inference, for the cases the importer cannot reduce to Identity: its mask output is used, or
its training_mode (opset 12+) is a graph input. Output = input, mask = all true.

training_mode true with ratio > 0 means dropping random elements (training): no deterministic answer
exists, so run() refuses it with an InputError naming the op and input. training_mode true with ratio 0
drops nothing and is computed. Numpy only: a copy and a fill."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, ShapeError
from .registry import OpDef, register_op


def _infer(node, shapes, dtypes, consts):
    if not shapes or shapes[0] is None:
        raise ShapeError("Dropout needs an input")
    outs = [(shapes[0], dtypes[0]), (shapes[0], np.bool_)]
    return outs[:max(1, len(node.outputs))]


def _given(x, i):
    return len(x) > i and x[i] is not None


def _reference(node, x):
    data = np.asarray(x[0])
    if _given(x, 2) and bool(np.asarray(x[2]).reshape(-1)[0]):
        ratio = float(np.asarray(x[1]).reshape(-1)[0]) if _given(x, 1) else float(node.attrs.get("ratio", 0.5))
        if ratio > 0:
            raise InputError(f"Dropout {node.name!r}: training_mode=true with ratio={ratio} drops random "
                             f"elements (training only); jitmnn runs inference only")
    return [data.copy(), np.ones(data.shape, np.bool_)][:max(1, len(node.outputs))]


register_op(OpDef("Dropout", _infer, _reference))
