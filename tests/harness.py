"""Run one op through one algorithm exactly as the planner and executor would, without a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jitmnn.config import SessionConfig
from jitmnn.graph import Node
from jitmnn.ops import registry


@dataclass
class Case:
    """One equivalence case: `inputs` holds arrays (None for an omitted optional input); `const_inputs`
    lists the input indices known at plan time (weights, shape tensors), as the planner would see them."""

    op: str
    inputs: list
    attrs: dict = field(default_factory=dict)
    const_inputs: tuple = ()
    id: str = ""
    n_outputs: int = 1

    def __str__(self):
        shapes = [None if a is None else tuple(np.shape(a)) for a in self.inputs]
        return f"{self.op}[{self.id}] attrs={self.attrs} shapes={shapes}"


def make_ctx(case: Case, config: SessionConfig | None = None):
    config = config or SessionConfig()
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(case.inputs)]
    node = Node(f"{case.op}_test", case.op, names, [f"out{i}" for i in range(case.n_outputs)], dict(case.attrs))
    opdef = registry.get_op(case.op)
    in_shapes = [None if a is None else tuple(np.shape(a)) for a in case.inputs]
    in_dtypes = [None if a is None else np.dtype(a.dtype) for a in case.inputs]
    consts = [_const(a) if i in case.const_inputs and a is not None else None for i, a in enumerate(case.inputs)]
    outs = opdef.infer(node, in_shapes, in_dtypes, consts)
    return registry.NodeCtx(node, in_shapes, in_dtypes, [tuple(s) for s, _ in outs], [np.dtype(d) for _, d in outs],
                            consts, config, config.num_threads)


def run_case(case: Case, algorithm: str, config: SessionConfig | None = None):
    """Outputs of `algorithm` on `case` (writes into fresh buffers, like arena views)."""
    ctx = make_ctx(case, config)
    alg = registry.algorithms(case.op)[algorithm]
    if not alg.applies(ctx):
        return None
    packed = alg.pack(ctx) if alg.pack else None
    params = alg.setup(ctx) if alg.setup else None
    outs = [np.full(s, np.nan, dtype=d) if np.dtype(d).kind == "f" else np.zeros(s, dtype=d)
            for s, d in zip(ctx.out_shapes, ctx.out_dtypes)]
    scratch_n = alg.scratch_bytes(ctx)
    scratch = np.zeros(scratch_n, np.uint8) if scratch_n else None
    ins = [None if a is None else _const(a) for a in case.inputs]
    alg.run(packed, params, ins, outs, scratch)
    return outs


def _const(a):
    """Compressed weights stay compressed (as the planner hands them over); anything else as an array."""
    return a if hasattr(a, "to_float") else np.asarray(a)


def as_float(a):
    """What an independent reference sees: compressed weights expanded to their fp32 values."""
    return None if a is None else (a.to_float() if hasattr(a, "to_float") else np.asarray(a))


def rng(seed=0):
    return np.random.default_rng(seed)
