"""prepare(): one input shape + one config -> a Plan. Shape inference (with plan-time folding of shape
arithmetic), per-layer algorithm choice, tensor lifetimes and the static arena layout.

The planner decides; it never runs a kernel (folding runs the numpy reference on tiny shape tensors)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from . import arena as arena_mod
from .config import LOW_MEMORY_MAX_WEIGHT_COPY_BYTES, LOW_MEMORY_WEIGHT_SLACK_BYTES
from .errors import PlanError, ShapeError, UnsupportedOpError
from .graph import as_float_array
from .ops import registry


@dataclass
class TensorPlan:
    name: str
    shape: tuple
    dtype: np.dtype
    kind: str  # "input" | "const" | "folded" | "arena"
    block: int = -1  # index into Plan.blocks when kind == "arena"
    alias_of: str | None = None
    storage: np.dtype | None = None  # registry.FP16_BITS when a float32 tensor is held as fp16

    @property
    def stored_dtype(self) -> np.dtype:
        """The dtype of the arena view kernels see (uint16 half bits for an fp16-stored tensor)."""
        return self.storage if self.storage is not None else self.dtype


@dataclass
class Step:
    node: object
    algorithm: str
    reason: str
    inputs: list
    outputs: list
    cost_us: float
    weight_bytes: int
    scratch_bytes: int
    scratch_block: int = -1
    params: object = None
    skipped: bool = False  # alias ops (Reshape as a view) need no kernel


@dataclass
class Plan:
    input_shapes: dict
    steps: list
    tensors: dict
    blocks: list
    offsets: list
    arena_bytes: int
    naive_bytes: int
    outputs: list
    folded: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    barrier: Barrier | None = None  # where this segment ends (None: the plan runs the whole graph)
    input_values: dict = field(default_factory=dict)  # values of the graph inputs the plan is keyed on

    def activation_tensors(self) -> list:
        """The float32 activations with arena bytes of their own (views excluded): what fp16 storage halves."""
        return [t for t in self.tensors.values() if t.kind == "arena" and t.alias_of is None and t.dtype == np.float32]

    @functools.cached_property
    def stores_fp16(self) -> bool:
        """Some activation is held as fp16 (precision="low")."""
        return any(t.storage is not None for t in self.tensors.values())

    def algorithm_counts(self) -> dict:
        counts: dict = {}
        for s in self.steps:
            if not s.skipped:
                key = f"{s.node.op}:{s.algorithm}"
                counts[key] = counts.get(key, 0) + 1
        return counts


def check_supported(graph) -> None:
    """Every op of the graph must be registered; name all the missing ones at once."""
    missing = [n.op for n in graph.nodes if not registry.has_op(n.op)]
    if missing:
        raise UnsupportedOpError(missing)


def _is_known(value) -> bool:
    return value is not None


@dataclass
class Barrier:
    """Where a plan segment ends: node `index` needs values known only at run time ("values": it is the
    first node of the rest), or has a data-dependent output shape ("data-dependent": it runs on its own,
    between the segments)."""

    index: int
    node: object
    kind: str
    tensors: list


class InputValuesNeeded(Exception):
    """The plan depends on the values of these graph inputs (shape tensors, axes, scales fed at run time):
    the caller keys its plans on them and plans again with their values."""

    def __init__(self, names):
        self.names = sorted(set(names))
        super().__init__(f"plan depends on the values of {self.names}")


# A graph input whose value decides shapes is keyed by value only up to this many elements; a bigger one
# (real data) deciding a shape is a model error.
MAX_KEYED_ELEMENTS = 1 << 16


def _infer(graph, input_shapes: dict, input_values: dict | None = None):
    """Shapes and dtypes of every tensor, plus plan-time values (constants, keyed input values and folded
    shape arithmetic). Stops at the first node whose shape needs a run-time value: returns its Barrier."""
    shapes, dtypes, values = {}, {}, {}
    for name, c in graph.constants.items():
        shapes[name], dtypes[name], values[name] = tuple(c.shape), np.dtype(c.dtype), c
    input_names = set()
    for t in graph.inputs:
        shapes[t.name], dtypes[t.name] = tuple(input_shapes[t.name]), np.dtype(t.dtype)
        input_names.add(t.name)
    for name, v in (input_values or {}).items():
        values[name] = np.asarray(v)
    folded_nodes = set()
    for index, node in enumerate(graph.nodes):
        opdef = registry.get_op(node.op)
        ins = [i for i in node.inputs]
        in_shapes = [shapes.get(i) if i else None for i in ins]
        in_dtypes = [dtypes.get(i) if i else None for i in ins]
        in_values = [values.get(i) if i else None for i in ins]
        try:
            outs = opdef.infer(node, in_shapes, in_dtypes, in_values)
        except registry.PlanTimeValueNeeded as e:
            name = ins[e.index] if e.index < len(ins) else ""
            if name in input_names:
                if int(np.prod(shapes[name], dtype=np.int64)) > MAX_KEYED_ELEMENTS:
                    raise ShapeError(f"node {node.name!r} ({node.op}): {e}; graph input {name!r} of shape "
                                     f"{shapes[name]} is too big to plan by value") from None
                raise InputValuesNeeded([name]) from None
            if not name:
                raise ShapeError(f"node {node.name!r} ({node.op}): {e}") from None
            return shapes, dtypes, values, folded_nodes, Barrier(index, node, "values", [name])
        except registry.RunTimeValuesNeeded:
            return shapes, dtypes, values, folded_nodes, Barrier(index, node, "data-dependent", list(node.outputs))
        except ShapeError as e:
            raise ShapeError(f"node {node.name!r} ({node.op}): {e}") from None
        except (ValueError, IndexError, TypeError) as e:
            raise ShapeError(f"node {node.name!r} ({node.op}) cannot infer shapes from {in_shapes}: {e}") from e
        for o, (shape, dtype) in zip(node.outputs, outs):
            shapes[o], dtypes[o] = tuple(int(d) for d in shape), np.dtype(dtype)
        data_inputs = [v for i, v in zip(ins, in_values) if i]
        if opdef.shape_only or (data_inputs and all(_is_known(v) for v in data_inputs) and not _heavy(node, data_inputs)):
            args = [np.asarray(as_float_array(v)) if v is not None else None for v in in_values]
            if opdef.shape_only:
                args = [np.empty(s, dtype=d) if s is not None and v is None else a
                        for s, d, v, a in zip(in_shapes, in_dtypes, in_values, args)]
            results = opdef.reference(node, args)
            for o, r in zip(node.outputs, results):
                if not o:
                    continue
                r = np.asarray(r)
                values[o] = r.astype(dtypes[o], copy=False).reshape(shapes[o])
            folded_nodes.add(node.name)
    return shapes, dtypes, values, folded_nodes, None


def _heavy(node, values) -> bool:
    """Do not fold nodes over big constants (e.g. a weight-only subgraph): folding would copy weights."""
    return sum(int(np.prod(np.shape(v))) for v in values) > 1 << 16


def choose(ctx, config, candidates: dict):
    """Pure choice of one algorithm for one node: (algorithm, reason, considered).
    Order: forced override > filter (applies, memory mode, precision) > lowest cost."""
    node = ctx.node
    forced = config.overrides.get(node.name) or config.overrides.get(node.op)
    if forced:
        alg = candidates.get(forced)
        if alg is None:
            raise PlanError(f"override asks for {node.op} algorithm {forced!r} on {node.name!r}; known: {sorted(candidates)}")
        if not alg.applies(ctx):
            raise PlanError(f"override {forced!r} does not apply to {node.name!r} (shape {ctx.in_shapes})")
        return alg, "forced by override", []
    unkernelled = _no_kernel_for(ctx)
    if unkernelled:
        return candidates["reference"], f"numpy reference: {unkernelled}", []
    considered, refused, lean = [], [], []
    lean_only = config.memory == "low" or config.precision == "low"
    for alg in candidates.values():
        if alg.name == "reference" or not alg.applies(ctx):
            continue
        if alg.precisions == ("low",) and config.precision != "low":
            continue  # a precision=low compute mode (bf16) is no alternative under other settings: not listed
        if lean_only and (alg.big_buffers or alg.weight_bytes(ctx) > LOW_MEMORY_MAX_WEIGHT_COPY_BYTES):
            why = "memory=low" if config.memory == "low" else "precision=low keeps weights fp16"
            refused.append(f"{alg.name} ({why}: needs {_mb(alg.weight_bytes(ctx) + alg.scratch_bytes(ctx))} extra)")
            lean.append((alg.weight_bytes(ctx) + alg.scratch_bytes(ctx), alg.cost(ctx), alg))
            continue
        if config.precision not in alg.precisions:
            refused.append(f"{alg.name} (precision={config.precision})")
            continue
        considered.append((alg.cost(ctx), alg))
    if not considered and lean:
        lean.sort(key=lambda t: (t[0], t[1]))
        return lean[0][2], f"memory=low: every algorithm needs a weight copy; {lean[0][2].name} needs least", []
    if not considered:
        others = [a for a in candidates.values() if a.name != "reference"]
        why = "; ".join(f"{a.name} does not apply ({a.doc})" if a.doc else f"{a.name} does not apply"
                        for a in others if not a.applies(ctx))
        return candidates["reference"], "only the numpy reference applies" + (f": {why}" if why else ""), []
    if lean_only and len(considered) > 1:
        # memory=low/precision=low: least extra weight memory first (a hybrid kernel beats an fp32 copy of
        # compressed weights, however small the copy), then speed among the equally lean.
        least = min(alg.weight_bytes(ctx) for _, alg in considered)
        for c, alg in considered:
            if alg.weight_bytes(ctx) > least + LOW_MEMORY_WEIGHT_SLACK_BYTES:
                refused.append(f"{alg.name} (keeps a {_mb(alg.weight_bytes(ctx))} weight copy)")
        considered = [(c, a) for c, a in considered if a.weight_bytes(ctx) <= least + LOW_MEMORY_WEIGHT_SLACK_BYTES]
    if config.precision == "low" and any(a.fp16 for _, a in considered):
        # precision=low: activations are stored fp16 between algorithms that can read and write it
        for c, alg in considered:
            if not alg.fp16:
                refused.append(f"{alg.name} (precision=low: keeps activations fp32)")
        considered = [(c, a) for c, a in considered if a.fp16]
    considered.sort(key=lambda t: t[0])
    best = considered[0][1]
    reason = "fastest" if len(considered) > 1 else "only candidate"
    if len(considered) > 1:
        reason += " of " + ", ".join(f"{a.name} {c:.0f}us" for c, a in considered[:3])
    if refused:
        reason += "; refused " + ", ".join(refused)
    return best, reason, considered


# Element types Numba kernels can take; a tensor of any other (float16 at the API, bfloat16, float8, int4, ...)
# is handled by the op's numpy reference.
KERNEL_DTYPES = frozenset(np.dtype(t) for t in (
    "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"))


def _no_kernel_for(ctx) -> str:
    """Why no compiled kernel may run this node ('' if one may): a dtype Numba lacks, or an empty tensor
    (kernels index without bounds checks; the reference handles zero-size shapes as numpy does)."""
    for d in list(ctx.in_dtypes) + list(ctx.out_dtypes):
        if d is not None and np.dtype(d) not in KERNEL_DTYPES:
            return f"no kernel takes {np.dtype(d).name}"
    for s in list(ctx.in_shapes) + list(ctx.out_shapes):
        if s is not None and 0 in tuple(s):
            return "empty tensor"
    return ""


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def make_plan(graph, input_shapes: dict, config, input_values: dict | None = None) -> Plan:
    """The plan for these input shapes (and values of the graph inputs that decide shapes). If a node's
    shape needs a value known only at run time, the plan covers the nodes before it (a segment) and
    `plan.barrier` says where the rest starts; its outputs are then the tensors the rest reads."""
    shapes, dtypes, values, folded_nodes, barrier = _infer(graph, input_shapes, input_values)
    nodes = graph.nodes if barrier is None else graph.nodes[:barrier.index]
    outputs = list(graph.outputs) if barrier is None else _live_after(graph, barrier, shapes)
    input_names = {t.name for t in graph.inputs}
    tensors: dict = {}
    for name in shapes:
        if name in graph.constants:
            kind = "const"
        elif name in input_names:
            kind = "input"
        elif name in values and name not in (input_values or {}):
            kind = "folded"
        else:
            kind = "arena"
        tensors[name] = TensorPlan(name, shapes[name], dtypes[name], kind)

    steps = []
    for node in nodes:
        if node.name in folded_nodes:
            continue
        opdef = registry.get_op(node.op)
        ctx = registry.NodeCtx(
            node=node,
            in_shapes=[shapes.get(i) if i else None for i in node.inputs],
            in_dtypes=[dtypes.get(i) if i else None for i in node.inputs],
            out_shapes=[shapes[o] for o in node.outputs],
            out_dtypes=[dtypes[o] for o in node.outputs],
            consts=[values.get(i) if i else None for i in node.inputs],
            config=config,
            threads=config.num_threads,
        )
        if opdef.alias_input is not None and tensors[node.inputs[opdef.alias_input]].kind in ("arena", "input") \
                and not config.overrides.get(node.name) and not config.overrides.get(node.op):
            src = node.inputs[opdef.alias_input]
            tensors[node.outputs[0]].alias_of = tensors[src].alias_of or src
            steps.append(Step(node, "view", "output is a view of its input (no copy)", node.inputs, node.outputs,
                              0.0, 0, 0, skipped=True))
            continue
        alg, reason, _ = choose(ctx, config, registry.algorithms(node.op))
        steps.append(_make_step(node, ctx, alg, reason))
    steps = _store_fp16(outputs, steps, tensors, config)
    steps = _fit_budget(graph, steps, tensors, config, values, shapes, dtypes)
    plan = _layout(graph, input_shapes, steps, tensors, values, config, outputs)
    plan.barrier = barrier
    plan.input_values = dict(input_values or {})
    return plan


def _live_after(graph, barrier, shapes) -> list:
    """Tensors computed before the barrier (or graph inputs) that the nodes from it on, or the graph's
    outputs, still read: what a segment hands to the rest."""
    later = {i for n in graph.nodes[barrier.index:] for i in n.inputs if i} | set(graph.outputs)
    return [name for name in shapes if name in later and name not in graph.constants]


def _make_step(node, ctx, alg, reason) -> Step:
    params = alg.setup(ctx) if alg.setup else None
    return Step(node, alg.name, reason, list(node.inputs), list(node.outputs), float(alg.cost(ctx)),
                int(alg.weight_bytes(ctx)), int(alg.scratch_bytes(ctx)), params=(ctx, params))


def _layout(graph, input_shapes, steps, tensors, values, config, outputs) -> Plan:
    """Lifetimes -> blocks -> offsets. Inputs are copied into the arena at step 0; outputs live to the end."""
    first: dict = {}
    last: dict = {}
    n = len(steps)

    def root(name):
        t = tensors[name]
        return t.alias_of or name

    for t in tensors.values():
        if t.kind == "input":
            first[t.name] = 0
    for idx, s in enumerate(steps):
        for o in s.outputs:
            if tensors[o].kind == "arena" and tensors[o].alias_of is None:
                first.setdefault(o, idx)
        for name in list(s.inputs) + list(s.outputs):
            if name and tensors[name].kind in ("arena", "input"):
                r = root(name)
                last[r] = max(last.get(r, 0), idx)
    for o in outputs:
        if tensors[o].kind in ("arena", "input"):
            last[root(o)] = n
    blocks = []
    for name, t in tensors.items():
        if t.kind in ("arena", "input") and t.alias_of is None and name in first:
            t.block = len(blocks)
            nbytes = int(np.prod(t.shape, dtype=np.int64)) * t.stored_dtype.itemsize
            blocks.append(arena_mod.Block(nbytes, first[name], last.get(name, first[name])))
    for t in tensors.values():
        if t.alias_of is not None:
            t.block = tensors[t.alias_of].block
    for idx, s in enumerate(steps):
        if s.scratch_bytes:
            s.scratch_block = len(blocks)
            blocks.append(arena_mod.Block(s.scratch_bytes, idx, idx))
    offsets, peak = arena_mod.plan_offsets(blocks)
    plan = Plan(dict(input_shapes), steps, tensors, blocks, offsets, peak, arena_mod.naive_bytes(blocks),
                list(outputs), folded={k: v for k, v in values.items() if tensors[k].kind == "folded"})
    plan.notes = _notes(plan, config)
    return plan


def _notes(plan, config) -> list:
    """Settings that had no effect on this model are said, not silently ignored."""
    notes = []
    algs = {s.algorithm for s in plan.steps}
    if config.memory == "low" and not any("refused" in s.reason for s in plan.steps):
        notes.append("memory=low changed no algorithm choice for this model (no layer had a memory-hungry option)")
    if config.precision == "low":
        notes.append(_fp16_note(plan))
    if "reference" in algs:
        refs = sorted({s.node.op for s in plan.steps if s.algorithm == "reference"})
        notes.append(f"ops running the slow numpy reference: {', '.join(refs)}")
    return notes


def _fp16_note(plan) -> str:
    from .kernels.half import host_converts_fp16

    if not host_converts_fp16():
        return ("precision=low: weights held as fp16 (bf16 where a bf16 kernel reads them) and expanded panel by panel (hybrid kernels); activations "
                "stay fp32 (this CPU has no F16C half<->float instructions)")
    acts = plan.activation_tensors()
    half = [t for t in acts if t.storage is not None]
    n_bytes = sum(int(np.prod(t.shape, dtype=np.int64)) * 4 for t in half)
    kept = sorted({s.node.op for s in plan.steps if not s.skipped
                   and not registry.algorithms(s.node.op)[s.algorithm].fp16})
    note = (f"precision=low: weights held as fp16 (bf16 where a bf16 kernel reads them) and expanded panel by panel (hybrid kernels); {len(half)} of "
            f"{len(acts)} activation tensors stored fp16 ({n_bytes / 2e6:.2f} MB instead of {n_bytes / 1e6:.2f} MB)")
    if kept:
        note += f"; activations next to {', '.join(kept)} stay fp32 (no fp16 kernel)"
    return note


def _store_fp16(outputs, steps, tensors, config) -> list:
    """precision=low: hold float32 activations as fp16 wherever every step touching them can (halves the
    arena). Tensors joined by a bit-moving step (a view, Concat, Transpose, ...) share one storage, so they
    are decided as a group: fp16 only if no member is a graph input or output and every step reading or
    writing a member converts or moves bits. Steps touching an fp16 tensor are set up again with their
    storage in the context (scratch and setup may depend on it); their algorithms do not change."""
    if config.precision != "low":
        return steps
    from .kernels.half import host_converts_fp16

    if not host_converts_fp16():
        return steps
    parent: dict = {}

    def find(name):
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def is_float_activation(name):
        t = tensors.get(name) if name else None
        return t is not None and t.kind in ("arena", "input") and t.dtype == np.float32

    blocked = {name for name in outputs if is_float_activation(name)}
    blocked |= {t.name for t in tensors.values() if t.kind == "input"}
    for s in steps:
        fp16 = registry.MOVES_BITS if s.skipped else registry.algorithms(s.node.op)[s.algorithm].fp16
        ins = [(i, n) for i, n in enumerate(s.inputs) if is_float_activation(n)]
        outs = [n for n in s.outputs if is_float_activation(n)]
        if fp16 == registry.MOVES_BITS:
            names = [n for _, n in ins] + outs
            for n in names[1:]:
                parent[find(n)] = find(names[0])
        elif fp16 == registry.CONVERTS:
            fp16_inputs = registry.algorithms(s.node.op)[s.algorithm].fp16_inputs
            blocked |= {n for i, n in ins if i not in fp16_inputs}
        else:
            blocked |= {n for _, n in ins} | set(outs)
    blocked_roots = {find(n) for n in blocked}
    for name, t in tensors.items():
        if is_float_activation(name) and find(name) not in blocked_roots:
            t.storage = registry.FP16_BITS
    out = []
    for s in steps:
        if s.skipped or not any(tensors[n].storage is not None for n in list(s.inputs) + s.outputs if n):
            out.append(s)
            continue
        ctx = dataclasses.replace(
            s.params[0],
            in_storage=[tensors[n].storage if n else None for n in s.inputs],
            out_storage=[tensors[n].storage for n in s.outputs])
        out.append(_make_step(s.node, ctx, registry.algorithms(s.node.op)[s.algorithm], s.reason))
    return out


def _fit_budget(graph, steps, tensors, config, values, shapes, dtypes):
    """memory_budget_mb: keep the fastest plan whose extra bytes (prepared weights + scratch) fit; else
    downgrade the layers with the best bytes-saved per microsecond-lost until it fits."""
    if config.memory_budget_mb is None:
        return steps
    budget = int(config.memory_budget_mb * 1e6)

    def extra(ss):
        return sum(s.weight_bytes for s in ss) + max([s.scratch_bytes for s in ss] or [0])

    steps = list(steps)
    while extra(steps) > budget:
        best = None
        for i, s in enumerate(steps):
            if s.skipped or s.algorithm == "reference":
                continue
            ctx = s.params[0]
            fp16 = registry.algorithms(s.node.op)[s.algorithm].fp16 if ctx.in_storage or ctx.out_storage else None
            for alg in registry.algorithms(s.node.op).values():
                if alg.name in ("reference", s.algorithm) or not alg.applies(ctx) \
                        or config.precision not in alg.precisions:
                    continue
                if fp16 is not None and alg.fp16 != fp16:  # it touches fp16 activations: keep the kind
                    continue
                saved = s.weight_bytes + s.scratch_bytes - alg.weight_bytes(ctx) - alg.scratch_bytes(ctx)
                if saved <= 0:
                    continue
                lost = max(alg.cost(ctx) - s.cost_us, 1e-3)
                score = saved / lost
                if best is None or score > best[0]:
                    best = (score, i, alg, saved)
        if best is None:
            raise PlanError(
                f"memory_budget_mb={config.memory_budget_mb}: the leanest plan still needs "
                f"{extra(steps) / 1e6:.2f} MB of prepared weights and scratch"
            )
        _, i, alg, saved = best
        ctx = steps[i].params[0]
        steps[i] = _make_step(steps[i].node, ctx, alg, f"memory budget: saves {_mb(saved)}")
    return steps
