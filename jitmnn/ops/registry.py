"""The op and algorithm registry. An op (OpDef) knows its shape rule and its plain-numpy reference; an
algorithm (keyed by (op, name)) knows when it applies, what it costs, how many extra bytes it needs, how
to prepare its weights and how to run. Adding an op or an algorithm never edits the planner or executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..config import PRECISIONS
from ..errors import ShapeError
from ..graph import as_float_array

# Activation storage under precision="low": a float32 tensor stored as fp16 is a uint16 array of half bits
# (Numba has no CPU float16; kernels/half.py converts on load and store).
FP16_BITS = np.dtype(np.uint16)
# What an algorithm does with fp16-stored activations (Algorithm.fp16):
CONVERTS = "converts"  # reads fp16 on its fp16_inputs, writes fp16 outputs (each independently), computes fp32
MOVES_BITS = "moves bits"  # copies elements unchanged: its float inputs and outputs must share one storage

_OPS: dict = {}
_ALGORITHMS: dict = {}  # op -> {name: Algorithm}


@dataclass
class NodeCtx:
    """Everything a shape rule or algorithm may look at for one node under one plan."""

    node: Any  # graph.Node
    in_shapes: list
    in_dtypes: list
    out_shapes: list
    out_dtypes: list
    consts: list  # per input: its value if known at plan time (weights, folded shapes), else None
    config: Any = None  # SessionConfig
    threads: int = 1
    # How each input/output is stored in the arena when that differs from its dtype: FP16_BITS for a
    # float32 tensor held as fp16 (precision="low"); None = stored as its dtype. Set by the planner.
    in_storage: list | None = None
    out_storage: list | None = None

    def attr(self, key, default=None):
        return self.node.attrs.get(key, default)

    @property
    def blas_threads(self) -> int:
        """Threads a BLAS call of this plan runs on (threads.blas_threads: one while Numba's threads compute)."""
        from ..threads import blas_threads

        return blas_threads(self.threads)

    def out_is_fp16(self, i: int = 0) -> bool:
        return bool(self.out_storage) and self.out_storage[i] == FP16_BITS

    def in_is_fp16(self, i: int = 0) -> bool:
        return bool(self.in_storage) and self.in_storage[i] == FP16_BITS


class PlanTimeValueNeeded(ShapeError):
    """infer() needs the value of input `index` (a shape, axes, scales, k ...) and the plan does not know it.
    The planner then keys the plan on that value if it is a graph input, or ends a plan segment before this
    node if it is computed at run time (the rest is planned once it has run)."""

    def __init__(self, index: int, what: str):
        self.index = index
        super().__init__(f"{what} (input {index}) must be known at plan time (a constant, a graph input, or "
                         f"folded shape arithmetic)")


class RunTimeValuesNeeded(Exception):
    """Raised by a data-dependent op's infer() (NonZero, Unique, Compress, NonMaxSuppression, ...) when its
    output shape depends on input values the plan does not know. The planner ends a plan segment after
    this node; the rest is planned once the node has run and its output shape is known."""


@dataclass(frozen=True)
class OpDef:
    """infer(node, in_shapes, in_dtypes, consts) -> [(shape, dtype), ...]
    reference(node, inputs) -> [np.ndarray, ...]   (plain numpy; the ground truth and the fold path)
    alias_input: the output may be a view of this input's buffer (Reshape, Squeeze, ...), no copy.
    shape_only: the output depends only on input shapes (Shape), so it is always folded at plan time.
    data_dependent: the output shape depends on input values; infer() computes it when `consts` holds them
    and raises RunTimeValuesNeeded otherwise.
    run_dynamic(node, inputs) -> [np.ndarray, ...]: how a data-dependent node runs between plan segments
    (a kernel-backed path); the reference when None."""

    name: str
    infer: Callable
    reference: Callable
    alias_input: int | None = None
    shape_only: bool = False
    data_dependent: bool = False
    run_dynamic: Callable | None = None


def _zero(ctx):
    return 0


def _always(ctx):
    return True


@dataclass(frozen=True)
class Algorithm:
    """pack(ctx) -> packed weights, shape-independent, cached per (node, algorithm) and shared by clones.
    setup(ctx) -> params for one plan (shape-dependent, cheap).
    run(packed, params, inputs, outputs, scratch) -> None: writes into `outputs`; allocates nothing.
    cost(ctx) -> estimated microseconds. weight_bytes/scratch_bytes(ctx) -> extra bytes it needs.
    big_buffers: needs transformed-weight copies or large scratch, so memory="low" refuses it.
    precisions: the precision settings that allow it (Winograd F(6,3) is excluded from "high").
    fp16: CONVERTS, MOVES_BITS or "" (float32 activations only); fp16_inputs: the input positions a
    CONVERTS algorithm may read as fp16 (the others, e.g. a run-time bias, stay float32)."""

    op: str
    name: str
    run: Callable
    cost: Callable
    applies: Callable = _always
    pack: Callable | None = None
    setup: Callable | None = None
    weight_bytes: Callable = _zero
    scratch_bytes: Callable = _zero
    big_buffers: bool = False
    precisions: tuple = PRECISIONS
    tier: str = "F32"
    doc: str = ""
    fp16: str = ""
    fp16_inputs: tuple = (0,)


def register_op(opdef: OpDef) -> OpDef:
    _OPS[opdef.name] = opdef
    _ALGORITHMS.setdefault(opdef.name, {})["reference"] = _reference_algorithm(opdef)
    return opdef


def register_algorithm(alg: Algorithm) -> Algorithm:
    if alg.op not in _OPS:
        raise KeyError(f"register op {alg.op!r} before its algorithm {alg.name!r}")
    _ALGORITHMS[alg.op][alg.name] = alg
    return alg


def get_op(name: str) -> OpDef:
    _ensure_loaded()
    return _OPS[name]


def has_op(name: str) -> bool:
    _ensure_loaded()
    return name in _OPS


def algorithms(op: str) -> dict:
    _ensure_loaded()
    return dict(_ALGORITHMS.get(op, {}))


def all_ops() -> dict:
    _ensure_loaded()
    return dict(_OPS)


# The reference algorithm: any op can run the slow, obvious numpy way (for debugging, and as the
# fallback the planner uses only when nothing else applies). It allocates temporaries, so it is never
# chosen unless forced or alone.
REFERENCE_COST_FACTOR = 1e9


def _reference_run(packed, params, inputs, outputs, scratch):
    node, ref = params
    results = ref(node, [as_float_array(i) for i in inputs])
    for out, res in zip(outputs, results):
        np.copyto(out, np.asarray(res).reshape(out.shape), casting="unsafe")


def _reference_algorithm(opdef: OpDef) -> Algorithm:
    return Algorithm(
        op=opdef.name,
        name="reference",
        run=_reference_run,
        setup=lambda ctx, ref=opdef.reference: (ctx.node, ref),
        cost=lambda ctx: REFERENCE_COST_FACTOR,
        doc="plain numpy reference",
        tier="EXACT",
    )


_loaded = False


def _ensure_loaded():
    """Import every op module once (they register themselves); done lazily so `import jitmnn` stays light."""
    global _loaded
    if not _loaded:
        from . import load_all

        load_all()  # an op module that fails to import fails every lookup, not just the first
        _loaded = True
