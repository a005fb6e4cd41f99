"""jitmnn as an ONNX backend (`onnx.backend.base.Backend`): what ONNX's own conformance suite
(`onnx.backend.test.BackendTest`) and tools written for ONNX backends drive.

    from jitmnn.backend import JitmnnBackend
    rep = JitmnnBackend.prepare(onnx_model, memory="low")
    outputs = rep.run([x])                       # a list (or dict) of numpy arrays in, a tuple out

A model goes through the same converter and passes as `jitmnn convert`, then runs from memory (no
.jmnn file is written). Session settings (precision, memory, num_threads, ...) pass through as keyword
arguments. Non-finite inputs pass through, as in ONNX Runtime (attention masks hold -inf)."""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    import onnx

    from .module import Module

try:  # onnx is a dependency of the converter; the backend classes follow its base classes
    from onnx.backend.base import Backend, BackendRep
except ImportError:  # pragma: no cover - onnx is a hard dependency in pyproject
    Backend, BackendRep = object, object

SESSION_SETTINGS = ("precision", "memory", "num_threads", "memory_budget_mb", "overrides", "check_finite")


class JitmnnRep(BackendRep):
    """A prepared model: runs lists or dicts of numpy arrays through one jitmnn Module (`.module`)."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.input_names = list(module.input_names)
        self.output_names = list(module.output_names)
        self._Outputs = namedtuple("Outputs", [f"o{i}" for i in range(len(self.output_names))], rename=True)

    def run(self, inputs: np.ndarray | Sequence[np.ndarray] | dict[str, np.ndarray], **kwargs: Any) -> tuple:
        """The outputs as a namedtuple in the model's output order, for one array, a list of arrays in the
        model's input order, or a dict by input name (what ONNX's backend tests pass). Extra keyword arguments
        are accepted and ignored, as the Backend interface allows."""
        if isinstance(inputs, dict):
            feed = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
                inputs = [inputs]
            if len(inputs) != len(self.input_names):
                from .errors import InputError

                raise InputError(f"the model takes {len(self.input_names)} inputs {self.input_names}, "
                                 f"got {len(inputs)}")
            feed = dict(zip(self.input_names, inputs))
        feed = {k: np.asarray(v) for k, v in feed.items()}
        result = self.module.run(feed)
        return self._Outputs(*[result[n] for n in self.output_names])


class JitmnnBackend(Backend):
    """ONNX backend over jitmnn (CPU only): what `onnx.backend.test.BackendTest` and tools written for ONNX
    backends drive.

        rep = JitmnnBackend.prepare(onnx_model, memory="low")   # jitmnn.load's settings as keywords
        y, = rep.run([x])"""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        """Whether the backend can run `model` on `device`: any CPU device (unsupported ops are reported by
        prepare(), all at once, as UnsupportedOpError)."""
        return cls.supports_device(device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """True for "CPU" (and "CPU:0"...): jitmnn runs on the CPU only."""
        return str(device).upper().startswith("CPU")

    @classmethod
    def prepare(cls, model: onnx.ModelProto | str, device: str = "CPU", **kwargs: Any) -> JitmnnRep:
        """Convert `model` (an onnx.ModelProto or a path) in memory, no .jmnn file written, and open a Module with
        the session settings among `kwargs` (precision, memory, num_threads, memory_budget_mb, overrides,
        check_finite); other keywords are ignored, as the Backend interface allows. Non-finite inputs pass
        through unless check_finite=True."""
        from .converter.api import onnx_to_graph
        from .module import from_graph

        if not cls.supports_device(device):
            raise ValueError(f"jitmnn runs on the CPU only, not {device!r}")
        settings = {k: kwargs[k] for k in SESSION_SETTINGS if k in kwargs}
        settings.setdefault("check_finite", False)
        graph = onnx_to_graph(model)
        return JitmnnRep(from_graph(graph, **settings))

    @classmethod
    def run_model(cls, model: onnx.ModelProto | str, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
        """prepare(model, device, **kwargs).run(inputs), for a model run once."""
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[Any], device: str = "CPU", outputs_info: Any = None,
                 **kwargs: Any) -> tuple:
        """Run one NodeProto: it is wrapped in a one-node model of the current default opset."""
        import onnx
        from onnx import helper

        inputs = [np.asarray(x) for x in inputs]
        ins = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
               for name, x in zip(node.input, inputs) if name]
        outs = [helper.make_empty_tensor_value_info(name) for name in node.output if name]
        graph = helper.make_graph([node], "run_node", ins, outs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", onnx.defs.onnx_opset_version())])
        return cls.run_model(model, [x for name, x in zip(node.input, inputs) if name], device, **kwargs)


prepare = JitmnnBackend.prepare
run_model = JitmnnBackend.run_model
run_node = JitmnnBackend.run_node
supports_device = JitmnnBackend.supports_device
