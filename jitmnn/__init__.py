"""jitmnn: a CPU inference runtime with Numba-compiled kernels, modelled on MNN, frugal with memory.

    jitmnn.convert("model.onnx", "model.jmnn")
    m = jitmnn.load("model.jmnn", precision="normal", memory="low", num_threads=1)
    outs = m.run({"input": x})
    print(m.explain()); m.memory_info()

    sess = jitmnn.InferenceSession("model.onnx")   # onnxruntime's API; the .onnx is converted once, cached

Importing jitmnn compiles nothing and does not import Numba; kernels load when a plan needs them."""

__version__ = "0.1.0"

from .errors import (  # noqa: F401
    ClosedError,
    ConversionError,
    ExecutionError,
    InputError,
    JitmnnError,
    ModelFormatError,
    NotPicklableError,
    ParamsError,
    PlanError,
    PrecisionError,
    ShapeError,
    UnsupportedOpError,
)


from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:  # for the annotations only: `import jitmnn` imports no numpy
    from os import PathLike as _PathLike

    from .graph import Graph as _Graph
    from .module import Module as _Module
    from .pool import ClonePool as _ClonePool


def load(path: "str | _PathLike[str]", precision: str = "normal", memory: str = "normal", num_threads: int = 1,
         memory_budget_mb: "float | None" = None, overrides: "dict[str, str] | None" = None,
         check_finite: bool = False) -> "_Module":
    """Open a .jmnn model for inference; returns a Module (`run`, `explain`, `memory_info`, `clone`, `close`).

        m = jitmnn.load("det.jmnn", precision="low", memory="low", num_threads=1)
        probs = m.run({"x": image})["sigmoid_0.tmp_0"]      # dict of numpy arrays in, dict out
        with jitmnn.load("det.jmnn", memory_budget_mb=8) as m: ...   # close() gives the arena back

    precision: "normal"; "high" excludes Winograd F(6,3) (more rounding); "low" holds float weights as fp16 and
    stores activations fp16 where every kernel touching them can (half the memory, compute stays fp32).
    memory: "normal" picks the fastest algorithm per layer and keeps the arena between runs; "low" keeps no weight
    copy or big scratch and gives the arena's pages back after every run; "high" is normal with a grow-only arena.
    memory_budget_mb: the fastest plan whose prepared weights and scratch fit, else PlanError (on first run).
    overrides: force algorithms, {"layer name" or "op type": "algorithm"}; "reference" runs plain numpy.
    check_finite: refuse NaN/inf inputs with InputError (by default they pass through, as in ONNX Runtime).

    The file is memory-mapped, so opening is cheap and processes share its pages; nothing is planned or compiled
    until the first run() or prepare(), because the plan depends on the input shapes. Raises ModelFormatError
    for a damaged file, ValueError for an unknown setting."""
    from .module import load as _load

    return _load(path, precision=precision, memory=memory, num_threads=num_threads,
                 memory_budget_mb=memory_budget_mb, overrides=overrides, check_finite=check_finite)


def convert(src_onnx: "str | _PathLike[str] | object", dst_jmnn: "str | _PathLike[str]", *, fp16: bool = False,
            bf16: bool = False, weight_quant_bits: "int | None" = None, block_size: "int | None" = None,
            asymmetric: bool = False, compression_params: "str | _PathLike[str] | dict | None" = None) -> dict:
    """Convert an ONNX model (a path or an onnx.ModelProto) to a .jmnn file; returns a report dict: sizes, op
    counts before and after, what each converter pass did, per-layer compression rows and warnings.

        report = jitmnn.convert("det.onnx", "det.jmnn")
        jitmnn.convert("det.onnx", "det.int8.jmnn", weight_quant_bits=8)               # ~0.26x the file
        jitmnn.convert("det.onnx", "det.int4.jmnn", weight_quant_bits=4, block_size=32)
        jitmnn.convert("rec.onnx", "rec.q.jmnn", compression_params="rec.params.json")  # from jitmnn.quant.calibrate
        print(jitmnn.converter.api.format_report(report))

    Weight storage, one at most: fp16 / bf16 (half the bytes; bf16 keeps fp32's range with less precision),
    weight_quant_bits 8 (a scale per output channel) or 4 (with block_size, a scale per block of input weights;
    asymmetric adds zero points), or compression_params: a calibrated per-layer choice. Conversion happens once,
    offline, so the runtime never re-optimises a model: BatchNorm folding, activation fusion and constant folding
    are done here. Raises UnsupportedOpError naming every op jitmnn cannot run (all at once), ConversionError for
    an unreadable model or conflicting options, ParamsError for a params file made for another model."""
    from .converter.api import convert as _convert

    return _convert(src_onnx, dst_jmnn, fp16=fp16, bf16=bf16, weight_quant_bits=weight_quant_bits,
                    block_size=block_size, asymmetric=asymmetric, compression_params=compression_params)


def ClonePool(module: "_Module", workers: int = 2) -> "_ClonePool":
    """One clone of `module` per worker thread; `pool.map(batch)` runs a list of input dicts across them and
    returns the outputs in input order.

        with jitmnn.ClonePool(m, workers=2) as pool:
            outs = pool.map([{"x": a}, {"x": b}, {"x": c}])

    Clones share the weights and each owns its arena, and the kernels release the GIL, so N workers use N cores
    for N times the arenas' memory. Closing the pool closes its clones (see jitmnn.pool.ClonePool)."""
    from .pool import ClonePool as _ClonePool

    return _ClonePool(module, workers)


def from_graph(graph: "_Graph", *, precision: str = "normal", memory: str = "normal", num_threads: int = 1,
               memory_budget_mb: "float | None" = None, overrides: "dict[str, str] | None" = None,
               check_finite: bool = False) -> "_Module":
    """A Module straight from an in-memory Graph, with load()'s settings: for model builders and tests that
    skip the file.

        graph = jitmnn.converter.api.onnx_to_graph("model.onnx")   # or a Graph built in code
        m = jitmnn.from_graph(graph, memory="low")

    Such a module cannot be pickled (there is no file for a worker to re-open); save the graph with
    jitmnn.format.save(graph, "model.jmnn") and load() it for that."""
    from .module import from_graph as _from_graph

    return _from_graph(graph, precision=precision, memory=memory, num_threads=num_threads,
                       memory_budget_mb=memory_budget_mb, overrides=dict(overrides or {}),
                       check_finite=check_finite)


# onnxruntime-compatible names (jitmnn/session.py), resolved on first use so `import jitmnn` stays cheap.
_SESSION_NAMES = ("InferenceSession", "SessionOptions", "RunOptions", "NodeArg", "ModelMetadata",
                  "GraphOptimizationLevel", "ExecutionMode", "get_available_providers", "get_all_providers",
                  "get_device")


def __getattr__(name):
    if name in _SESSION_NAMES:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'jitmnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SESSION_NAMES))
