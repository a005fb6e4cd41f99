"""What users hold: `m = jitmnn.load(path, precision=..., memory=..., num_threads=...)`.

A Model is the loaded file plus prepared (packed) weights; it is shared, read-only, by every clone.
A Module owns one Arena and its plans; `run()` walks a bound plan and neither allocates arena memory
nor chooses anything. Clones share the Model and own their arenas; `close()` gives the arena back."""

from __future__ import annotations

import threading
import weakref

import numpy as np

from . import format as jformat
from . import planner, threads
from .arena import Arena
from .segment import Segment
from .config import SessionConfig
from .errors import ClosedError, InputError, PrecisionError
from .ops import registry

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
    def __init__(self, model: Model, config: SessionConfig):
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
    def run(self, inputs: dict) -> dict:
        """Run the model on a dict of numpy arrays; returns a dict of fresh output arrays."""
        self._check_open()
        arrays = self._check_inputs(inputs)
        threads.use(self.config.num_threads)
        root = self._thread_root()
        result = root.run(arrays)
        self.runs += 1
        if any(seg.current and seg.current[0].stores_fp16 for seg in root.segments()):
            _check_fp16_range(result, arrays)
        return result

    def profile(self, inputs: dict, runs: int = 5) -> list:
        """Measured per-layer time (median ms over `runs`) of the bound plan: for finding slow layers.
        Not the hot path: run() stays free of timing calls."""
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

    def prepare(self, input_shapes: dict):
        """Plan (and pack weights) for these input shapes ahead of the first run; returns the Plan."""
        self._check_open()
        return self._root.plan(self._normalise_shapes(input_shapes))

    def explain(self, input_shapes: dict | None = None):
        from .explain import Explanation

        plan = self._root.plan(self._normalise_shapes(input_shapes)) if input_shapes else self._last_plan()
        later = [(seg.graph.name, seg.last_plan()) for seg in self._root.segments()[1:] if seg.last_plan()]
        return Explanation(plan, self.config, self.memory_info(), later)

    def memory_info(self) -> dict:
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

    def clone(self) -> "Module":
        """A module sharing this one's weights (read-only) with its own arena: one per worker thread."""
        self._check_open()
        return Module(self._model, self.config)

    def close(self) -> None:
        """Give the arena and plans back. Weights stay mapped while any clone still uses them."""
        self._closed = True
        self._root.release()
        for root in list(self._thread_roots):
            root.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

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


def load(path: str, precision: str = "normal", memory: str = "normal", num_threads: int = 1,
         memory_budget_mb: float | None = None, overrides: dict | None = None, check_finite: bool = False) -> Module:
    """Open a .jmnn model for inference. Nothing is compiled or planned until the first run/prepare."""
    config = SessionConfig(precision=precision, memory=memory, num_threads=num_threads,
                           memory_budget_mb=memory_budget_mb, overrides=dict(overrides or {}),
                           check_finite=check_finite)
    graph = jformat.load(path)
    return Module(Model(_for_precision(graph, config), path), config)


def _for_precision(graph, config):
    """precision="low": hold float weights as fp16 (halves weight RAM; hybrid kernels expand panels).
    The file's fp32 pages are read once here; the graph given back references only the fp16 copies."""
    if config.precision != "low":
        return graph
    from dataclasses import replace

    from .compression import compress_graph

    low = replace(graph, constants=dict(graph.constants), metadata=dict(graph.metadata))
    try:
        low.metadata["precision_low"] = compress_graph(low, "fp16")
    except ValueError as e:  # nothing left to halve (already compressed, or no float weights)
        low.metadata["precision_low"] = str(e)
        return low
    jformat.release_file_pages(graph)
    return low


def from_graph(graph, **settings) -> Module:
    """A module straight from an in-memory Graph (tests, model builders); same settings as load()."""
    config = SessionConfig(**settings)
    return Module(Model(_for_precision(graph, config)), config)
