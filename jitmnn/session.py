"""onnxruntime's InferenceSession API over a jitmnn Module, so a pipeline written against ORT runs with only
its import changed:

    from jitmnn import InferenceSession, SessionOptions        # was: from onnxruntime import ...
    sess = InferenceSession("det.onnx", providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    probs, = sess.run(None, {name: image})

An .onnx file (or its bytes) is converted once into a cache (jitmnn/cache.py); a .jmnn file opens directly.
jitmnn's own settings (precision, memory, num_threads, ...: those of jitmnn.load) come as keyword arguments or
on SessionOptions. Shapes and types are reported as ORT does (symbolic dims by name, "tensor(float)"), from
what the converter kept of the ONNX model's declarations (jitmnn/converter/signature.py)."""

from __future__ import annotations

import dataclasses
import enum
import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import cache
from . import format as jformat
from .errors import InputError, JitmnnError

if TYPE_CHECKING:
    from .module import Module

# A provider as ORT takes it: a name, or a (name, options dict) pair.
Provider = str | tuple[str, dict]

CPU_PROVIDER = "CPUExecutionProvider"
# ORT's ModelMetadata.version when the model sets none
NO_MODEL_VERSION = (1 << 63) - 1
# Older .jmnn files do not keep the declared output shapes: they are inferred for the declared input shapes
# with each unknown input dim set to these two sizes in turn; an output dim that differs is reported as None.
# Both are multiples of 32 so strided conv backbones (a detector's /32) see a valid size.
OUTPUT_SHAPE_PROBE_DIMS = (32, 64)
_LOAD_SETTINGS = ("precision", "memory", "num_threads", "memory_budget_mb", "overrides", "check_finite")


class GraphOptimizationLevel(enum.IntEnum):
    """ORT's levels, accepted and ignored: jitmnn's converter passes always run (at conversion)."""

    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_LAYOUT = 3
    ORT_ENABLE_ALL = 99


class ExecutionMode(enum.IntEnum):
    """ORT's modes, accepted and ignored: jitmnn runs a graph's layers in order."""

    ORT_SEQUENTIAL = 0
    ORT_PARALLEL = 1


@dataclass(slots=True)  # slots: a misspelt attribute raises AttributeError, as on ORT's options object
class SessionOptions:
    """ORT's SessionOptions. intra_op_num_threads is jitmnn's num_threads (0 or less: jitmnn's default of 1;
    more than the machine's cores: capped there); precision, memory and memory_budget_mb are jitmnn's own
    settings. The rest are ORT's, kept so pipelines that set them run, and meaning nothing here."""

    intra_op_num_threads: int = 0
    precision: str = "normal"
    memory: str = "normal"
    memory_budget_mb: float | None = None
    inter_op_num_threads: int = 0
    graph_optimization_level: GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL
    execution_mode: ExecutionMode = ExecutionMode.ORT_SEQUENTIAL
    execution_order: int = 0
    log_severity_level: int = -1
    log_verbosity_level: int = 0
    logid: str = ""
    enable_cpu_mem_arena: bool = True
    enable_mem_pattern: bool = True
    enable_mem_reuse: bool = True
    enable_profiling: bool = False
    profile_file_prefix: str = "onnxruntime_profile_"
    optimized_model_filepath: str = ""
    use_deterministic_compute: bool = False
    use_per_session_threads: bool = True
    config_entries: dict = field(default_factory=dict)

    def add_session_config_entry(self, key: str, value: str) -> None:
        """Kept and readable back, as ORT's session config entries; jitmnn acts on none of them."""
        self.config_entries[str(key)] = str(value)

    def get_session_config_entry(self, key: str) -> str:
        """The value set with add_session_config_entry; KeyError if none was."""
        if key not in self.config_entries:
            raise KeyError(f"no session config entry {key!r}")
        return self.config_entries[key]

    def add_free_dimension_override_by_name(self, dim_name: str, dim_value: int) -> None:
        """Accepted and ignored: jitmnn plans for the shapes each run is fed."""

    def add_free_dimension_override_by_denotation(self, denotation: str, dim_value: int) -> None:
        """Accepted and ignored, as add_free_dimension_override_by_name."""


@dataclass(slots=True)
class RunOptions:
    """ORT's RunOptions: accepted by run() and ignored."""

    log_severity_level: int = -1
    log_verbosity_level: int = 0
    logid: str = ""
    tag: str = ""
    terminate: bool = False
    only_execute_path_to_fetches: bool = False
    config_entries: dict = field(default_factory=dict)

    def add_run_config_entry(self, key: str, value: str) -> None:
        """Kept and readable back, as ORT's run config entries; jitmnn acts on none of them."""
        self.config_entries[str(key)] = str(value)

    def get_run_config_entry(self, key: str) -> str:
        """The value set with add_run_config_entry; KeyError if none was."""
        return self.config_entries[key]


@dataclass(frozen=True)
class NodeArg:
    """An input or output as ORT describes it: shape entries are ints, dim names (str) or None (unknown)."""

    name: str
    shape: list
    type: str


@dataclass(frozen=True)
class ModelMetadata:
    """ORT's ModelMetadata; custom_metadata_map holds the ONNX metadata_props (e.g. PP-OCR rec's "character")."""

    producer_name: str = ""
    graph_name: str = ""
    domain: str = ""
    description: str = ""
    graph_description: str = ""
    version: int = NO_MODEL_VERSION
    custom_metadata_map: dict = field(default_factory=dict)


def get_available_providers() -> list:
    """["CPUExecutionProvider"]: the only provider jitmnn has (ORT's function of the same name)."""
    return [CPU_PROVIDER]


def get_all_providers() -> list:
    """["CPUExecutionProvider"]: jitmnn is built for the CPU only, so all providers are the available ones."""
    return [CPU_PROVIDER]


def get_device() -> str:
    """"CPU", as a CPU build of ONNX Runtime reports."""
    return "CPU"


class InferenceSession:
    """onnxruntime.InferenceSession's interface over a jitmnn Module (held as `.module`, for explain(),
    memory_info(), clone()).

        sess = jitmnn.InferenceSession("det.onnx", providers=["CPUExecutionProvider"], memory="low")
        name = sess.get_inputs()[0].name
        probs, = sess.run(None, {name: image})
        sess.module.explain()                         # jitmnn's own view of the same model

    path_or_bytes: a .jmnn path, an .onnx path, or an ONNX model's bytes (converted once, cached).
    settings: jitmnn.load's keyword arguments (precision, memory, num_threads, memory_budget_mb, overrides,
    check_finite); they win over sess_options. providers: GPU and other providers are not available, so, as ORT
    does for a provider it lacks, each is warned about and the session runs on the CPU."""

    def __init__(self, path_or_bytes: str | os.PathLike | bytes, sess_options: SessionOptions | None = None,
                 providers: Sequence[Provider] | None = None, provider_options: Sequence[dict] | None = None,
                 **settings: Any) -> None:
        self._providers = _check_providers(providers, provider_options)
        load_settings = _merge_settings(sess_options, settings)
        source, jmnn_path = _locate(path_or_bytes)
        self._open(source, jmnn_path, load_settings, sess_options)

    def _open(self, source, jmnn_path, load_settings: dict, sess_options) -> None:
        from .module import load

        self._source = source
        self._model_path = jmnn_path
        self._module = load(jmnn_path, **load_settings)
        self._sess_options = sess_options
        self._graph = self._module._model.graph
        self._signature = self._graph.metadata.get("onnx") or {}
        self._inputs = self._input_args()
        self._outputs = self._output_args()
        self._output_index = {o.name: i for i, o in enumerate(self._outputs)}

    # ----- ORT's API -------------------------------------------------------------------------------
    def run(self, output_names: Sequence[str] | None, input_feed: dict, run_options: RunOptions | None = None) -> list:
        """Outputs (numpy arrays) in the order of `output_names`; None or [] means all, in the model's order."""
        names = [o.name for o in self._outputs] if not output_names else list(output_names)
        unknown = [n for n in names if n not in self._output_index]
        if unknown:
            raise InputError(f"unknown output name(s) {unknown}; the model's outputs are "
                             f"{[o.name for o in self._outputs]}")
        result = self._module.run(self._feed(input_feed))
        return [result[n] for n in names]

    def get_inputs(self) -> list:
        """The model's inputs as NodeArgs (name, shape with symbolic dims by name, type such as "tensor(float)"),
        as the ONNX file declared them."""
        return list(self._inputs)

    def get_outputs(self) -> list:
        """The model's outputs as NodeArgs, in the order run(None, ...) returns them."""
        return list(self._outputs)

    def get_overridable_initializers(self) -> list:
        """[]: initializers are folded into the .jmnn at conversion and cannot be fed at run time."""
        return []

    def get_modelmeta(self) -> ModelMetadata:
        """The ONNX model's metadata; custom_metadata_map holds its metadata_props (e.g. PP-OCR rec's alphabet
        under "character"), which survive conversion."""
        m = self._signature.get("model")
        if m is None:  # a .jmnn from before the converter kept the ONNX metadata
            return ModelMetadata(producer_name=str(self._graph.metadata.get("producer", "")),
                                 graph_name=self._graph.name)
        return ModelMetadata(
            producer_name=m.get("producer_name", ""), graph_name=m.get("graph_name", ""),
            domain=m.get("domain", ""), description=m.get("description", ""),
            graph_description=m.get("graph_description", ""),
            version=NO_MODEL_VERSION if m.get("version") is None else int(m["version"]),
            custom_metadata_map=dict(m.get("custom_metadata_map") or {}))

    def get_providers(self) -> list:
        """["CPUExecutionProvider"]: the provider the session runs on, whatever was asked for."""
        return [CPU_PROVIDER]

    def get_provider_options(self) -> dict:
        """{"CPUExecutionProvider": {}}, as ORT reports its CPU provider whatever options were passed."""
        return {CPU_PROVIDER: {}}

    def set_providers(self, providers: Sequence[Provider] | None = None,
                      provider_options: Sequence[dict] | None = None) -> None:
        """Accepted as in ORT: a provider other than the CPU's is warned about, and the session stays on the CPU."""
        self._providers = _check_providers(providers, provider_options)

    def disable_fallback(self) -> None:
        """Nothing to fall back from: jitmnn runs on the CPU only."""

    def enable_fallback(self) -> None:
        """Nothing to fall back from: jitmnn runs on the CPU only."""

    def get_session_options(self) -> SessionOptions:
        """The options given (or ORT's defaults), showing the settings in effect."""
        c = self._module.config
        base = self._sess_options if isinstance(self._sess_options, SessionOptions) else SessionOptions()
        return dataclasses.replace(base, intra_op_num_threads=c.num_threads, precision=c.precision,
                                   memory=c.memory, memory_budget_mb=c.memory_budget_mb)

    # ----- jitmnn's additions ------------------------------------------------------------------------
    @property
    def module(self) -> Module:
        """The jitmnn Module running the model."""
        return self._module

    @property
    def model_path(self) -> str:
        """The .jmnn file in use (the cache entry when an ONNX model was given)."""
        return self._model_path

    def __reduce__(self):
        """Pickled as (source path, .jmnn path, settings): unpickling re-opens the .jmnn (weights mmap'd and
        shared through the page cache), or, where that file is missing (another machine), converts the source."""
        options = self._sess_options if isinstance(self._sess_options, SessionOptions) else None
        return _reopen, (self._source, self._model_path, dataclasses.asdict(self._module.config), options,
                         self._providers)

    def __repr__(self) -> str:
        return f"jitmnn.InferenceSession({self._source or '<ONNX bytes>'!r}, model_path={self._model_path!r})"

    # ----- internals --------------------------------------------------------------------------------
    def _feed(self, input_feed: dict) -> dict:
        """The Module's inputs: values that are not arrays are converted to the input's dtype, as ORT does;
        a declared input the optimised graph no longer reads may be fed and is dropped."""
        if not isinstance(input_feed, dict):
            raise InputError(f"input_feed must be a dict {{input name: numpy array}}, got {type(input_feed).__name__}")
        specs = self._module.input_specs
        declared = {a.name for a in self._inputs}
        feed = {}
        for name, value in input_feed.items():
            if name not in specs:
                if name in declared:
                    continue
                raise InputError(f"unknown input name {name!r}; the model's inputs are "
                                 f"{[a.name for a in self._inputs]}")
            feed[name] = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=specs[name][1])
        return feed

    def _input_args(self) -> list:
        declared = self._signature.get("inputs")
        if declared is not None:
            return [NodeArg(a["name"], list(a["shape"]), a["type"]) for a in declared]
        return [NodeArg(t.name, [d if isinstance(d, int) and d >= 0 else None for d in t.shape], _type_of(t.dtype))
                for t in self._graph.inputs]

    def _output_args(self) -> list:
        declared = {a["name"]: NodeArg(a["name"], list(a["shape"]), a["type"])
                    for a in self._signature.get("outputs") or []}
        if any(name not in declared for name in self._graph.outputs):
            declared = {**_probe_outputs(self._graph), **declared}
        return [declared[name] for name in self._graph.outputs]


def _reopen(source, jmnn_path, load_settings, sess_options, providers) -> InferenceSession:
    """What unpickling an InferenceSession calls (see InferenceSession.__reduce__)."""
    if not os.path.isfile(jmnn_path) and source is not None and source != jmnn_path:
        jmnn_path = cache.cached_jmnn(source)
    session = InferenceSession.__new__(InferenceSession)
    session._providers = providers
    session._open(source, jmnn_path, load_settings, sess_options)
    return session


def _locate(path_or_bytes):
    """(source path or None for bytes, .jmnn path to load)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return None, cache.cached_jmnn(path_or_bytes)
    if not isinstance(path_or_bytes, (str, os.PathLike)):
        raise TypeError(f"InferenceSession takes a model path or an ONNX model's bytes, got "
                        f"{type(path_or_bytes).__name__}")
    path = os.path.abspath(os.fspath(path_or_bytes))
    return path, (path if jformat.is_jmnn(path) else cache.cached_jmnn(path))


def _merge_settings(sess_options, settings: dict) -> dict:
    """jitmnn.load's keyword arguments from SessionOptions, then explicit keyword arguments over them."""
    unknown = sorted(set(settings) - set(_LOAD_SETTINGS))
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; InferenceSession takes jitmnn.load's settings "
                        f"{list(_LOAD_SETTINGS)}")
    merged = {}
    if sess_options is not None:
        if not hasattr(sess_options, "intra_op_num_threads"):
            raise TypeError(f"sess_options must be a jitmnn.SessionOptions, got {type(sess_options).__name__}")
        # an onnxruntime.SessionOptions (a half-migrated pipeline) is read the same way: it has no jitmnn settings
        merged = {"num_threads": _num_threads(sess_options.intra_op_num_threads),
                  "precision": getattr(sess_options, "precision", "normal"),
                  "memory": getattr(sess_options, "memory", "normal"),
                  "memory_budget_mb": getattr(sess_options, "memory_budget_mb", None)}
    merged.update(settings)
    return merged


def _num_threads(intra_op_num_threads) -> int:
    """ORT's 0 means "the runtime's default" (jitmnn's is 1); ORT takes more threads than cores, jitmnn caps."""
    n = int(intra_op_num_threads)
    return 1 if n <= 0 else min(n, os.cpu_count() or 1)


def _check_providers(providers, provider_options) -> list:
    """The provider names asked for (ORT's list of names or of (name, options) pairs). Any but the CPU provider
    is warned about and dropped, as ORT does for a provider it lacks: the session runs on the CPU."""
    if providers is None:
        return [CPU_PROVIDER]
    if isinstance(providers, str):
        providers = [providers]
    names = []
    for p in providers:
        name = p[0] if isinstance(p, (tuple, list)) else p
        if not isinstance(name, str):
            raise ValueError(f"a provider is a name or a (name, options dict) pair, got {p!r}")
        names.append(name)
    if provider_options is not None and len(provider_options) != len(names):
        raise ValueError("'providers' and 'provider_options' should be the same length if both are given")
    for name in names:
        if name != CPU_PROVIDER:
            warnings.warn(f"provider {name!r} is not available: jitmnn runs on the CPU only; using "
                          f"{CPU_PROVIDER} (available providers: {get_available_providers()})",
                          UserWarning, stacklevel=3)
    return [CPU_PROVIDER]


def _type_of(dtype) -> str:
    """ORT's spelling of a numpy dtype: float32 -> tensor(float), float8_e4m3fn -> tensor(float8e4m3fn)."""
    name = np.dtype(dtype).name
    return "tensor(" + {"float32": "float", "float64": "double"}.get(name, name.replace("_", "")) + ")"


def _probe_outputs(graph) -> dict:
    """NodeArgs of the outputs of a .jmnn that does not keep their declarations: shapes inferred by the planner
    for the declared input shapes, twice with different sizes for unknown dims; a dim that changes, or an
    output the planner cannot reach before run time, is unknown (None, or shape [] when even the rank is)."""
    from . import planner

    runs = []
    for probe in OUTPUT_SHAPE_PROBE_DIMS:
        shapes = {t.name: tuple(d if isinstance(d, int) and d > 0 else probe for d in t.shape) for t in graph.inputs}
        try:
            inferred_shapes, inferred_dtypes, *_ = planner._infer(graph, shapes)
        except (JitmnnError, planner.InputValuesNeeded, ValueError):
            inferred_shapes, inferred_dtypes = {}, {}
        runs.append((inferred_shapes, inferred_dtypes))
    out = {}
    for name in graph.outputs:
        a, b = runs[0][0].get(name), runs[1][0].get(name)
        same_rank = a is not None and b is not None and len(a) == len(b)
        shape = [x if x == y else None for x, y in zip(a, b)] if same_rank else []
        dtype = runs[0][1].get(name) or runs[1][1].get(name)
        out[name] = NodeArg(name, shape, _type_of(dtype) if dtype is not None else "tensor(unknown)")
    return out
