"""jitmnn: a CPU inference runtime with Numba-compiled kernels, modelled on MNN, frugal with memory.

    jitmnn.convert("model.onnx", "model.jmnn")
    m = jitmnn.load("model.jmnn", precision="normal", memory="low", num_threads=1)
    outs = m.run({"input": x})
    print(m.explain()); m.memory_info()

Importing jitmnn compiles nothing and does not import Numba; kernels load when a plan needs them."""

__version__ = "0.1.0"

from .errors import (  # noqa: F401
    ClosedError,
    ConversionError,
    ExecutionError,
    InputError,
    JitmnnError,
    ModelFormatError,
    ParamsError,
    PlanError,
    PrecisionError,
    ShapeError,
    UnsupportedOpError,
)


def load(path, precision="normal", memory="normal", num_threads=1, **kwargs):
    from .module import load as _load

    return _load(path, precision=precision, memory=memory, num_threads=num_threads, **kwargs)


def convert(src_onnx, dst_jmnn, **options):
    """Convert an ONNX file to .jmnn; returns a report dict (sizes, ops, passes applied)."""
    from .converter.api import convert as _convert

    return _convert(src_onnx, dst_jmnn, **options)


def ClonePool(module, workers=2):
    """One clone per worker thread; `pool.map(batch)` runs the batch in parallel (see jitmnn.pool)."""
    from .pool import ClonePool as _ClonePool

    return _ClonePool(module, workers)


def from_graph(graph, **settings):
    from .module import from_graph as _from_graph

    return _from_graph(graph, **settings)
