"""Plans and runs one graph over one arena: a whole model, or, when a node's output shape depends on values
known only at run time, one segment of it.

Plans are cached per input shapes and per the values of the graph inputs that decide shapes (a Reshape
target, Slice bounds, TopK's k fed as inputs): those inputs are found when planning first needs them, and
from then on their values are part of the plan key. When a shape depends on a value computed inside the
model (a data-dependent op such as NonZero, or shape arithmetic on computed data), the plan stops there:
the segment runs, hands the tensors the rest reads to a segment planned for the rest (with its own arena
and plan cache), and a data-dependent node runs between the two on exactly the data it got."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from . import planner
from .errors import ExecutionError, JitmnnError, ShapeError
from .graph import Graph, TensorInfo, as_float_array
from .ops import registry

MAX_CACHED_PLANS = 8


class _BoundStep:
    __slots__ = ("run", "packed", "params", "ins", "outs", "scratch", "name")


class Segment:
    def __init__(self, model, graph, config, arena, arena_factory):
        self.model = model
        self.graph = graph
        self.config = config
        self.arena = arena
        self._arena_factory = arena_factory
        self.plans: OrderedDict = OrderedDict()
        self.current = None  # (plan, bound steps, input views, output views, arena generation, plan key)
        self.keyed: set = set()  # graph inputs whose values the plans depend on
        self.rests: dict = {}  # (barrier index, kind) -> Segment for the nodes after it

    # ----- planning ---------------------------------------------------------------------------------
    def _key(self, shapes: dict, arrays: dict | None):
        values = tuple((n, arrays[n].dtype.str, arrays[n].tobytes()) for n in sorted(self.keyed)) if arrays else ()
        return tuple(sorted(shapes.items())), values

    def plan(self, shapes: dict, arrays: dict | None = None):
        """The cached plan for these shapes (and keyed input values), made on first use."""
        key = self._key(shapes, arrays)
        plan = self.plans.get(key)
        if plan is not None:
            self.plans.move_to_end(key)
            return plan
        while True:
            values = {n: np.asarray(arrays[n]) for n in self.keyed} if arrays is not None else {}
            try:
                plan = planner.make_plan(self.graph, shapes, self.config, values)
                break
            except planner.InputValuesNeeded as e:
                if arrays is None:
                    raise ShapeError(f"the plan depends on the values of the inputs {e.names} (shape tensors "
                                     f"fed at run time): run() the model with them instead") from None
                if set(e.names) <= self.keyed:  # pragma: no cover - the planner had the values
                    raise
                self.keyed |= set(e.names)
                key = self._key(shapes, arrays)
        for s in plan.steps:
            if not s.skipped:
                self.model.packed(s)
        self.plans[key] = plan
        while len(self.plans) > MAX_CACHED_PLANS:
            self.plans.popitem(last=False)
        return plan

    def last_plan(self):
        if self.current:
            return self.current[0]
        if self.plans:
            return next(reversed(self.plans.values()))
        return None

    # ----- binding and running ----------------------------------------------------------------------
    def bind(self, shapes: dict, arrays: dict | None = None):
        """Views of the arena for one plan; rebuilt only when the plan or the arena buffer changes."""
        cur = self.current
        if cur is not None and cur[5] == self._key(shapes, arrays) and cur[4] == self.arena.generation \
                and self.arena.buffer is not None and not self.arena.ensure(cur[0].arena_bytes):
            return cur[0], cur[1], cur[2], cur[3]  # ensure() marked the pages in use again
        plan = self.plan(shapes, arrays)
        self.arena.ensure(plan.arena_bytes)
        views = {}
        for name, t in plan.tensors.items():
            if t.kind in ("arena", "input") and t.block >= 0:
                views[name] = self.arena.view(plan.offsets[t.block], t.shape, t.stored_dtype)
        consts = self.graph.constants

        def value(name):
            if not name:
                return None
            if name in views:
                return views[name]
            if name in plan.folded:
                return plan.folded[name]
            return consts[name]

        bound = []
        for s in plan.steps:
            if s.skipped:
                continue
            b = _BoundStep()
            alg = registry.algorithms(s.node.op)[s.algorithm]
            b.run, b.packed, b.params, b.name = alg.run, self.model.packed(s), s.params[1], s.node.name
            b.ins = [value(i) for i in s.inputs]
            b.outs = [views[o] for o in s.outputs]
            b.scratch = (self.arena.buffer[plan.offsets[s.scratch_block]:plan.offsets[s.scratch_block] + s.scratch_bytes]
                         if s.scratch_block >= 0 else None)
            bound.append(b)
        in_views = {t.name: views[t.name] for t in self.graph.inputs if t.name in views}
        out_views = {n: value(n) for n in plan.outputs}
        self.current = (plan, bound, in_views, out_views, self.arena.generation, self._key(shapes, arrays))
        return plan, bound, in_views, out_views

    def run(self, arrays: dict) -> dict:
        """Outputs (fresh arrays) of the graph for these inputs; runs the following segments if any."""
        shapes = {k: tuple(v.shape) for k, v in arrays.items()}
        plan, steps, in_views, out_views = self.bind(shapes, arrays)
        for name, view in in_views.items():
            np.copyto(view, arrays[name])
        for s in steps:
            try:
                s.run(s.packed, s.params, s.ins, s.outs, s.scratch)
            except JitmnnError:
                raise
            except Exception as e:  # a typed error naming the layer, never a bare numpy/Numba one
                raise ExecutionError(f"layer {s.name!r} failed: {type(e).__name__}: {e}") from e
        result = {name: np.array(view, copy=True) for name, view in out_views.items()}
        self.arena.after_run()
        if plan.barrier is None:
            return result
        return self._run_rest(plan, result)

    def _run_rest(self, plan, live: dict) -> dict:
        barrier = plan.barrier
        start = barrier.index
        if barrier.kind == "data-dependent":
            live.update(self._run_dynamic(barrier.node, live, plan))
            start += 1
        key = (barrier.index, barrier.kind)
        rest = self.rests.get(key)
        if rest is None:
            rest = Segment(self.model, self._rest_graph(start, live), self.config, self._arena_factory(),
                           self._arena_factory)
            self.rests[key] = rest
        return rest.run({t.name: live[t.name] for t in rest.graph.inputs})

    def _run_dynamic(self, node, live: dict, plan) -> dict:
        """A node whose output shape depends on its data, run by its numpy reference on that data."""
        opdef = registry.get_op(node.op)
        consts = self.graph.constants
        args = [None if not i else live[i] if i in live else plan.folded.get(i, consts.get(i)) for i in node.inputs]
        args = [None if a is None else np.asarray(as_float_array(a)) for a in args]
        try:
            run = opdef.run_dynamic or opdef.reference
            results = run(node, args)  # its output shapes are what it produces
        except JitmnnError:
            raise
        except Exception as e:
            raise ExecutionError(f"layer {node.name!r} ({node.op}) failed: {type(e).__name__}: {e}") from e
        return {o: np.asarray(r) for o, r in zip(node.outputs, results) if o}

    def _rest_graph(self, start: int, live: dict) -> Graph:
        nodes = self.graph.nodes[start:]
        read = {i for n in nodes for i in n.inputs if i} | set(self.graph.outputs)
        names = sorted(n for n in live if n in read and n not in self.graph.constants)
        inputs = [TensorInfo(n, tuple(live[n].shape), live[n].dtype.name) for n in names]
        first = nodes[0].name if nodes else "(outputs)"
        return Graph(f"{self.graph.name}[from {first}]", nodes, inputs, list(self.graph.outputs),
                     self.graph.constants, dict(self.graph.metadata))

    def segments(self) -> list:
        """This segment and every rest planned so far, in order (for explain())."""
        out = [self]
        for rest in self.rests.values():
            out.extend(rest.segments())
        return out

    def release(self) -> None:
        self.current = None
        self.plans.clear()
        self.arena.release()
        for rest in self.rests.values():
            rest.release()
