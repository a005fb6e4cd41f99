"""Typed errors: every way a user can hand jitmnn something wrong has its own class, so callers can
catch precisely and messages can name exactly what was wrong."""


class JitmnnError(Exception):
    """Base of every error jitmnn raises on purpose."""


class ModelFormatError(JitmnnError):
    """A .jmnn file is truncated, corrupt, of an unknown version, or fails its checksum."""


class UnsupportedOpError(JitmnnError):
    """The source model uses ops jitmnn cannot run; `ops` lists every one of them, not just the first."""

    def __init__(self, ops):
        self.ops = sorted(set(ops))
        super().__init__(f"unsupported ops: {', '.join(self.ops)}")


class ConversionError(JitmnnError):
    """The converter cannot produce a correct model (bad attribute, unsupported variant, ...)."""


class InputError(JitmnnError, ValueError):
    """run() was given the wrong input name, rank, shape or dtype, or non-finite values."""


class ShapeError(JitmnnError, ValueError):
    """Shape inference found tensors whose shapes cannot work together."""


class PlanError(JitmnnError):
    """No execution plan satisfies the session settings (e.g. a memory budget too small for any plan)."""


class ClosedError(JitmnnError):
    """The module (or clone) was closed and its memory returned; it cannot run any more."""


class ParamsError(JitmnnError):
    """A compression-params file does not match the model, names unknown layers, or changes nothing."""


class PrecisionError(JitmnnError, ArithmeticError):
    """precision="low" stored an activation as fp16 and it left fp16's range (|x| > 65504): the outputs are
    not finite although the inputs were. Run the model at precision="normal"."""


class ExecutionError(JitmnnError, RuntimeError):
    """A layer failed while running (an input value it cannot take, e.g. an index out of range in a Gather fed
    at run time); the message names the layer and its op."""


class NotPicklableError(JitmnnError, TypeError):
    """A module pickles as (model file path, settings) and is re-opened from that file when unpickled; one
    built from an in-memory graph (jitmnn.from_graph) has no file to re-open."""
