"""What users hold: `m = jitmnn.load(path, precision=..., memory=..., num_threads=...)`.

A Model is the loaded file plus prepared (packed) weights; it is shared, read-only, by every clone.
A Module owns one Arena and its plans; `run()` walks a bound plan and neither allocates arena memory
nor chooses anything. Clones share the Model and own their arenas; `close()` gives the arena back."""

from __future__ import annotations

import dataclasses
import os
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np

from . import format as jformat
from . import planner, threads
from .arena import Arena
from .segment import Segment
from .config import SessionConfig
from .errors import ClosedError, InputError, NotPicklableError, PrecisionError
from .ops import registry

if TYPE_CHECKING:
    from .explain import Explanation
    from .graph import Graph
    from .planner import Plan

# Packed data made from values folded out of shape tensors fed at run time (a Loop body's iteration count)
# is kept for this many (node, value) pairs; a plan still holding an evicted one is packed again on bind.
MAX_PACKED_BY_VALUE = 64


class Model:
    """A loaded graph plus the packed-weight cache shared by all modules made from it."""

    def __init__(self, graph, path=None):
        self.graph = graph
        self.path = path
        self._packed: dict = {}
        self._packed_bytes: dict = {}
        self._by_value: list = []  # keys of packed data made from folded run-time values, oldest first
        self._lock = threading.Lock()
        planner.check_supported(graph)

    def packed(self, step):
        """Prepared weights for (node, algorithm): made once, shared by every clone and every shape."""
        key = (step.node.name, step.algorithm, self._folded_fingerprint(step))
        if key not in self._packed:
            with self._lock:
                if key not in self._packed:
                    alg = registry.algorithms(step.node.op)[step.algorithm]
                    packed = alg.pack(step.params[0]) if alg.pack else None
                    self._packed_bytes[key] = _nbytes(packed)
                    self._packed[key] = packed
                    if key[2]:
                        self._by_value.append(key)
                        if len(self._by_value) > MAX_PACKED_BY_VALUE:  # oldest value-specific entry goes
                            old = self._by_value.pop(0)
                            self._packed.pop(old, None)
                            self._packed_bytes.pop(old, None)
        return self._packed[key]

    def _folded_fingerprint(self, step) -> tuple:
        """Inputs known at plan time that are not the model's constants (folded from shape tensors fed at
        run time) differ between plans: packed data made from them is kept per value."""
        ctx = step.params[0]
        parts = []
        for name, value in zip(step.node.inputs, ctx.consts):
            if name and value is not None and name not in self.graph.constants:
                a = np.asarray(value)
                parts.append((name, a.dtype.str, a.shape, a.tobytes()))
        return tuple(parts)

    def drop_packed(self, keep: set) -> None:
        """Forget packed weights no live plan uses (e.g. after a plan switched algorithms)."""
        with self._lock:
            for key in [k for k in self._packed if k not in keep]:
                del self._packed[key]
                del self._packed_bytes[key]

    @property
    def packed_bytes(self) -> int:
        return sum(self._packed_bytes.values())


def _nbytes(obj) -> int:
    if obj is None:
        return 0
    if isinstance(obj, np.ndarray):
        return 0 if _is_file_backed(obj) else obj.nbytes
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(o) for o in obj.values())
    return 0


def _is_file_backed(a: np.ndarray) -> bool:
    """True for a view into the model file's memory map: no RAM beyond the page cache, not a copy."""
    return jformat.file_mapping(a) is not None


class Module:
    """A loaded model you run: made by jitmnn.load (or from_graph, or clone). It owns one arena, the memory all
    intermediate tensors live in, planned for the input shapes it is run with; the weights belong to the shared
    Model and are never copied per module.

        m = jitmnn.load("det.jmnn", memory="low")
        out = m.run({"x": image})                     # {output name: numpy array}
        m.input_names, m.output_names, m.input_specs  # {name: (declared shape, dtype)}
        print(m.explain()); m.memory_info(); m.profile({"x": image})
        with m.clone() as c: c.run({"x": image})      # another arena, the same weights

    Use as a context manager (or call close()) to give the arena back as soon as you are done. One Module may be
    run from several threads (each thread gets plans and an arena of its own); clones make that memory explicit."""

    def __init__(self, model: Model, config: SessionConfig) -> None:
        self._model = model
        self.config = config
        self._arena = Arena(config.memory)
        self._root = Segment(model, model.graph, config, self._arena, lambda: Arena(config.memory))
        # One Module shared by threads: the creating thread runs on self._root, every other thread on a
        # segment (plans, arena) of its own, kept in thread-local storage and given back when it ends.
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._thread_roots = weakref.WeakSet()
        self._closed = False
        self.runs = 0
        graph = model.graph
        self.input_names = [t.name for t in graph.inputs]
        self.output_names = list(graph.outputs)
        self.input_specs = {t.name: (tuple(t.shape), t.dtype) for t in graph.inputs}

    # ----- public API -------------------------------------------------------------------------------
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on {input name: numpy array}; returns {output name: array}, fresh arrays the caller owns.

            out = m.run({"x": np.zeros((1, 3, 640, 640), np.float32)})["sigmoid_0.tmp_0"]

        The first run for an input shape plans the model (algorithm per layer, arena offsets) and loads the compiled
        kernels the plan needs; later runs with that shape reuse both, so time steady-state runs, not the first.
        Raises InputError for a wrong name, rank, dimension or dtype (nothing is cast silently), ClosedError after
        close(), ExecutionError naming the layer if one fails on its data, and PrecisionError when precision="low"
        overflowed fp16 on finite inputs."""
        self._check_open()
        arrays = self._check_inputs(inputs)
        threads.use(self.config.num_threads)
        root = self._thread_root()
        result = root.run(arrays)
        self.runs += 1
        if any(seg.current and seg.current[0].stores_fp16 for seg in root.segments()):
            _check_fp16_range(result, arrays)
        return result

    def profile(self, inputs: dict[str, np.ndarray], runs: int = 5) -> list[tuple[str, str, str, float]]:
        """Measured time of each layer for these inputs: [(layer name, op, algorithm, median ms over `runs`)] in
        plan order, for finding the slow layers.

            slowest = sorted(m.profile({"x": image}, runs=3), key=lambda r: -r[3])[:10]

        It runs the plan step by step with a clock around each layer, separately from run(), which never calls a
        clock; the sum of the layers is therefore close to, not equal to, a run's time."""
        import time

        self.run(inputs)  # plan, bind, compile
        arrays = self._check_inputs(inputs)
        root = self._thread_root()
        plan, steps, in_views, _ = root.bind({k: v.shape for k, v in arrays.items()}, arrays)
        for name, view in in_views.items():
            np.copyto(view, arrays[name])
        times = [[] for _ in steps]
        for _ in range(runs):
            for i, s in enumerate(steps):
                t0 = time.perf_counter()
                s.run(s.packed, s.params, s.ins, s.outs, s.scratch)
                times[i].append((time.perf_counter() - t0) * 1e3)
        algs = {s.node.name: (s.node.op, s.algorithm) for s in plan.steps}
        rows = [(s.name, *algs[s.name], float(np.median(t))) for s, t in zip(steps, times)]
        root.arena.after_run()
        return rows

    def prepare(self, input_shapes: dict[str, tuple[int, ...]]) -> Plan:
        """Plan (and pack weights) for these input shapes ahead of the first run; returns the Plan.

            m.prepare({"x": (1, 3, 640, 640)})   # e.g. at server start, so the first request is not slower

        Planning and weight packing happen per input shape on first use; prepare() moves that cost to a moment you
        choose."""
        self._check_open()
        return self._root.plan(self._normalise_shapes(input_shapes))

    def explain(self, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Explanation:
        """The plan as a printable account: per layer, the op, the algorithm chosen and why, the output shape and
        the extra memory it costs, plus the arena's planned and naive sizes and notes on settings without effect.

            print(m.explain())                         # the last plan run (or one for the declared shapes)
            e = m.explain({"x": (1, 3, 960, 960)})     # plans for these shapes without running
            e.count("winograd"), e.layers[0], e.plan.algorithm_counts()

        Models with data-dependent shapes (NonZero, NMS, If/Loop) are planned in segments; the later segments are
        listed as far as runs have planned them."""
        from .explain import Explanation

        plan = self._root.plan(self._normalise_shapes(input_shapes)) if input_shapes else self._last_plan()
        later = [(seg.graph.name, seg.last_plan()) for seg in self._root.segments()[1:] if seg.last_plan()]
        return Explanation(plan, self.config, self.memory_info(), later)

    def memory_info(self) -> dict:
        """Where this module's memory goes, in bytes (of the last plan, and of this module's own arena):

        weights_file_bytes / weights_stored_bytes: the weights as in the file (memory-mapped, shared between
        processes and clones); weights_expanded_bytes: copies some algorithms keep (Winograd-transformed or
        unpacked weights); arena_planned_bytes: what the plan needs for intermediate tensors, arena_naive_bytes: the
        sum it would be without sharing; arena_capacity_bytes: resident now (0 after a run under memory="low"),
        arena_reserved_bytes: address space kept; arena_high_water_bytes, arena_allocations, arena_bytes_allocated:
        the arena's history; scratch_bytes: the largest per-layer scratch; per_layer_extra_bytes: {layer: bytes}.

            info = m.memory_info(); info["arena_planned_bytes"] / info["arena_naive_bytes"]"""
        plan = self._root.last_plan()
        per_layer = {}
        scratch = 0
        if plan is not None:
            for s in plan.steps:
                if s.weight_bytes or s.scratch_bytes:
                    per_layer[s.node.name] = s.weight_bytes + s.scratch_bytes
                scratch = max(scratch, s.scratch_bytes)
        g = self._model.graph
        return {
            "weights_file_bytes": int(g.metadata.get("file_bytes", 0)),
            "weights_stored_bytes": g.weight_bytes(),
            "weights_expanded_bytes": self._model.packed_bytes,
            "arena_capacity_bytes": self._arena.resident_bytes,
            "arena_reserved_bytes": self._arena.capacity,
            "arena_planned_bytes": plan.arena_bytes if plan else 0,
            "arena_naive_bytes": plan.naive_bytes if plan else 0,
            "arena_high_water_bytes": self._arena.high_water,
            "arena_allocations": self._arena.allocations,
            "arena_bytes_allocated": self._arena.bytes_allocated,
            "scratch_bytes": scratch,
            "per_layer_extra_bytes": per_layer,
        }

    def clone(self) -> Module:
        """A module sharing this one's weights (read-only) with its own arena and plans: one per worker thread.

            with m.clone() as c:
                c.run(inputs)

        A clone costs its arena only (see memory_info()["arena_planned_bytes"]); closing it gives that back and
        leaves this module running. jitmnn.ClonePool keeps one per worker for you."""
        self._check_open()
        return Module(self._model, self.config)

    def close(self) -> None:
        """Give the arena and plans back (also on leaving a `with` block); run() then raises ClosedError.
        Weights stay mapped while any clone still uses them; closing twice is harmless."""
        self._closed = True
        self._root.release()
        for root in list(self._thread_roots):
            root.release()

    def __enter__(self) -> Module:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once close() was called: the module refuses to run."""
        return self._closed

    @property
    def path(self) -> str | None:
        """The .jmnn file this module was loaded from (absolute), or None for one made by from_graph."""
        return self._model.path

    def __reduce__(self):
        """Pickled as (file path, settings), never as weights or plans: unpickling (in a Dask/Spark/Ray worker)
        loads the file again, so its weights are mmap'd and shared through the page cache, not copied."""
        if self._model.path is None:
            raise NotPicklableError(
                "this module was built from an in-memory graph (jitmnn.from_graph), so there is no model file to "
                "re-open where it is unpickled; save the graph with jitmnn.format.save(graph, 'model.jmnn') and "
                "pickle jitmnn.load('model.jmnn', ...) instead")
        self._check_open()
        return _reopen, (self._model.path, dataclasses.asdict(self.config))

    # ----- internals --------------------------------------------------------------------------------
    def _check_open(self):
        if self._closed:
            raise ClosedError("this module was closed; load the model again or clone a live module")

    def _normalise_shapes(self, shapes: dict) -> dict:
        out = {}
        for name in self.input_names:
            if name not in shapes:
                raise InputError(f"missing input {name!r}; the model's inputs are {self.input_names}")
            out[name] = tuple(int(d) for d in shapes[name])
            self._check_shape(name, out[name])
        return out

    def _check_shape(self, name, shape):
        declared, _ = self.input_specs[name]
        if len(shape) != len(declared):
            raise InputError(f"input {name!r} must have rank {len(declared)} (shape {_fmt(declared)}), got shape {shape}")
        for i, (d, s) in enumerate(zip(declared, shape)):
            if isinstance(d, int) and d > 0 and d != s:
                raise InputError(f"input {name!r} dimension {i} must be {d} (shape {_fmt(declared)}), got shape {shape}")
            if s < 0:
                raise InputError(f"input {name!r} has a negative dimension: shape {shape}")

    def _check_inputs(self, inputs: dict) -> dict:
        if not isinstance(inputs, dict):
            raise InputError("run() takes a dict {input name: numpy array}")
        unknown = sorted(set(inputs) - set(self.input_names))
        missing = [n for n in self.input_names if n not in inputs]
        if unknown or missing:
            raise InputError(f"inputs do not match the model: unknown {unknown}, missing {missing}; expected {self.input_names}")
        arrays = {}
        for name in self.input_names:
            a = inputs[name]
            if not isinstance(a, np.ndarray):
                raise InputError(f"input {name!r} must be a numpy array, got {type(a).__name__}")
            _, dtype = self.input_specs[name]
            if a.dtype != np.dtype(dtype):
                raise InputError(f"input {name!r} must be {dtype}, got {a.dtype} (convert with .astype(np.{dtype}))")
            self._check_shape(name, a.shape)
            if self.config.check_finite and a.dtype.kind == "f" and not np.isfinite(a).all():
                raise InputError(f"input {name!r} contains NaN or inf")
            arrays[name] = a
        return arrays

    def _thread_root(self) -> Segment:
        """The calling thread's segment: concurrent run() calls on one Module never share an arena."""
        if threading.get_ident() == self._owner:
            return self._root
        root = getattr(self._local, "root", None)
        if root is None:
            config = self.config
            root = Segment(self._model, self._model.graph, config, Arena(config.memory), lambda: Arena(config.memory))
            root.keyed = set(self._root.keyed)
            self._local.root = root
            self._thread_roots.add(root)
        return root

    def _last_plan(self):
        plan = self._root.last_plan()
        if plan is not None:
            return plan
        shapes = {n: tuple(d if isinstance(d, int) and d > 0 else 1 for d in s) for n, (s, _) in self.input_specs.items()}
        return self._root.plan(shapes)


def _check_fp16_range(result: dict, inputs: dict) -> None:
    """A non-finite output from finite inputs means an fp16-stored activation overflowed (inputs are looked at
    only then, so a normal run pays one isfinite pass over its outputs)."""
    for name, out in result.items():
        if out.dtype.kind == "f" and not np.isfinite(out).all() \
                and all(np.isfinite(a).all() for a in inputs.values() if a.dtype.kind == "f"):
            raise PrecisionError(
                f"output {name!r} is not finite under precision='low': an activation stored as fp16 went beyond "
                f"its range (|x| > 65504). Load the model with precision='normal' (fp32 activations); if it gives "
                f"non-finite outputs there too, the model itself does.")


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in shape) + ")"


def load(path: str | os.PathLike, precision: str = "normal", memory: str = "normal", num_threads: int = 1,
         memory_budget_mb: float | None = None, overrides: dict | None = None, check_finite: bool = False) -> Module:
    """Open a .jmnn model for inference (jitmnn.load documents the settings). Nothing is compiled or planned
    until the first run/prepare."""
    config = SessionConfig(precision=precision, memory=memory, num_threads=num_threads,
                           memory_budget_mb=memory_budget_mb, overrides=dict(overrides or {}),
                           check_finite=check_finite)
    graph = jformat.load(path)
    # absolute, so a pickled module re-opens the same file from a worker whose current directory differs
    return Module(Model(_for_precision(graph, config), os.path.abspath(os.fspath(path))), config)


def _reopen(path: str, settings: dict) -> Module:
    """What unpickling a Module calls (see Module.__reduce__)."""
    return load(path, **settings)


def _for_precision(graph, config):
    """precision="low": hold float weights as fp16 (halves weight RAM; hybrid kernels expand panels).
    The file's fp32 pages are read once here; the graph given back references only the fp16 copies."""
    if config.precision != "low":
        return graph
    from dataclasses import replace

    from .compression import compress_graph
    from .ops.conv_bf16 import bf16_weight_layers

    low = replace(graph, constants=dict(graph.constants), metadata=dict(graph.metadata))
    try:
        # On CPUs with bf16 compute, conv weights the bf16 kernel can read in place are stored bf16 instead
        low.metadata["precision_low"] = compress_graph(low, "fp16", layers=bf16_weight_layers(low))
    except ValueError as e:  # nothing left to halve (already compressed, or no float weights)
        low.metadata["precision_low"] = str(e)
        return low
    jformat.release_file_pages(graph)
    return low


def from_graph(graph: Graph, **settings) -> Module:
    """A module straight from an in-memory Graph (tests, model builders); same settings as load()."""
    config = SessionConfig(**settings)
    return Module(Model(_for_precision(graph, config)), config)
