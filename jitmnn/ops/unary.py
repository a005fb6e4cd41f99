"""Unary elementwise ops: shape rule = identity; kernels in kernels/unary.py."""

import numpy as np

from jitmnn.kernels import unary as K

from .registry import Algorithm, OpDef, register_algorithm, register_op

# Memory-bound: ~1 ns per element is a fair estimate on this machine.
NS_PER_ELEMENT = 1.0


def _same(node, shapes, dtypes, consts):
    return [(shapes[0], dtypes[0])]


def _numel(ctx):
    return int(np.prod(ctx.out_shapes[0]))


def _is_f32(ctx):
    return ctx.in_dtypes[0] == np.float32


def _run_relu(packed, params, ins, outs, scratch):
    K.relu(ins[0].reshape(-1), outs[0].reshape(-1))


register_op(OpDef("Relu", _same, lambda node, x: [np.maximum(x[0], 0).astype(x[0].dtype)]))
register_algorithm(Algorithm("Relu", "numba", run=_run_relu, applies=_is_f32,
                             cost=lambda ctx: _numel(ctx) * NS_PER_ELEMENT / 1e3))
