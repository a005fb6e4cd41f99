"""The compression-params file: what calibration chose per layer, applied by `jitmnn convert
--compression-params FILE`.

A JSON document, versioned and tied to one model by a content hash, so it can never be applied to a model
it was not made for (MNN users quantized a model, passed the wrong or a stale file, and got an unchanged
float model with no message):

    {"format": "jitmnn-compression-params", "version": 1,
     "model": {"sha256": "...", "source": "resnet18.onnx"},
     "calibration": {"method": "percentile", "bits": 8, "samples": 100, ...},
     "layers": {"layer1.0.1.conv": {"op": "Conv", "weight": "layer1.0.1.conv.weight",
                                    "weight_shape": [64, 64, 3, 3], "fused_from": ["layer1.0.1.bn", ...],
                                    "kind": "int8", "bits": 8, "block_size": 0, "asymmetric": false,
                                    "scales": [[...], ...], "zero_points": null, "bias": "fp16",
                                    "bias_correction": [...],
                                    "activation": {"input": {...}, "output": {...}}}, ...}}

Layers are keyed by the name of the node that owns the weight in the converted graph. The converter's
passes keep that name through every fusion (a Conv that absorbed a BatchNormalization and a Relu is still
named after the Conv, and lists what it absorbed in attrs["fused_from"]), so the key is a stable identity;
an entry may also be found by any name in its "fused_from" list or by its weight tensor's name.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParamsError

if TYPE_CHECKING:
    import onnx

FORMAT = "jitmnn-compression-params"
VERSION = 1
KINDS = ("int8", "int4", "fp16", "bf16", "fp32")
BITS_OF_KIND = {"int8": 8, "int4": 4, "fp16": 16, "bf16": 16, "fp32": 32}


def model_hash(model: str | os.PathLike | bytes | onnx.ModelProto) -> str:
    """sha256 of an ONNX model's graph (nodes, initializers, inputs, outputs): what a params file is tied
    to. The graph only, so re-saving a model with another producer string keeps its hash."""
    from ..converter.onnx_import import load_model

    proto, _, _ = load_model(model)
    return hashlib.sha256(proto.graph.SerializeToString(deterministic=True)).hexdigest()


def new_params(sha256: str, source: str, calibration: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "model": {"sha256": sha256, "source": source},
            "calibration": dict(calibration), "layers": {}}


def save(params: dict, path: str | os.PathLike) -> None:
    """Write a params dict as JSON (numpy arrays as lists), atomically: a crash never leaves half a file that the
    converter would then refuse."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(params, f, indent=1, default=_json_default)
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"cannot store {type(o).__name__} in a params file")


def load(src: str | os.PathLike | dict) -> dict:
    """A params dict from a path (or an already loaded dict), structurally checked."""
    if isinstance(src, dict):
        params = src
        where = "compression params"
    else:
        where = os.fspath(src)
        try:
            with open(where) as f:
                params = json.load(f)
        except FileNotFoundError:
            raise ParamsError(f"compression params file not found: {where}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ParamsError(f"{where}: not a readable compression-params file ({e})") from None
    if not isinstance(params, dict) or params.get("format") != FORMAT:
        raise ParamsError(f"{where}: not a jitmnn compression-params file (format is not {FORMAT!r})")
    if params.get("version") != VERSION:
        raise ParamsError(f"{where}: params file version {params.get('version')!r}, this jitmnn reads version "
                          f"{VERSION}; re-run `jitmnn calibrate`")
    sha = (params.get("model") or {}).get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise ParamsError(f"{where}: no model hash (model.sha256); re-run `jitmnn calibrate`")
    layers = params.get("layers")
    if not isinstance(layers, dict):
        raise ParamsError(f"{where}: 'layers' must be an object mapping layer name -> entry")
    for name, e in layers.items():
        if not isinstance(e, dict) or e.get("kind") not in KINDS:
            raise ParamsError(f"{where}: layer {name!r}: kind must be one of {KINDS}, got "
                              f"{e.get('kind') if isinstance(e, dict) else e!r}")
    return params


def resolve_layers(params: dict, graph) -> dict:
    """{node name in `graph`: params entry}. Every entry must find its layer (by its key, a name in its
    "fused_from" list, or its weight tensor), with the weight shape it was calibrated on; otherwise
    ParamsError lists every entry that does not match (all at once, with the layers the model has)."""
    from ..compression import WEIGHT_INPUTS

    weighted = [n for n in graph.nodes if n.op in WEIGHT_INPUTS and len(n.inputs) > WEIGHT_INPUTS[n.op]
                and n.inputs[WEIGHT_INPUTS[n.op]] in graph.constants]
    by_name = {n.name: n for n in weighted}
    alias: dict = {}
    for n in weighted:
        for other in n.attrs.get("fused_from", []):
            alias.setdefault(other, n)
        alias.setdefault(n.inputs[WEIGHT_INPUTS[n.op]], n)
    resolved, missing, wrong = {}, [], []
    for key, entry in params["layers"].items():
        node = by_name.get(key) or alias.get(key) or alias.get(entry.get("weight", ""))
        if node is None:
            missing.append(key)
            continue
        w = graph.constants[node.inputs[WEIGHT_INPUTS[node.op]]]
        want = entry.get("weight_shape")
        if want is not None and list(want) != list(w.shape):
            wrong.append(f"{key}: weight shape {list(w.shape)} in the model, {list(want)} in the params file")
            continue
        bad = _scales_problem(entry, w)
        if bad:
            wrong.append(f"{key}: {bad}")
            continue
        if node.name in resolved:
            wrong.append(f"{key}: names layer {node.name!r} a second time")
            continue
        resolved[node.name] = entry
    if missing or wrong:
        have = ", ".join(n.name for n in weighted[:8]) + (", ..." if len(weighted) > 8 else "")
        parts = []
        if missing:
            parts.append(f"{len(missing)} layer(s) in the params file do not exist in the model: "
                         + ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else ""))
        parts.extend(wrong)
        raise ParamsError("; ".join(parts) + f" (the model's weighted layers: {have})")
    return resolved


def _scales_problem(entry: dict, w) -> str | None:
    """Why the entry's scales/zero points cannot quantize weight `w` (None if they can)."""
    if entry.get("bias") not in (None, "fp16", "fp32"):
        return f"bias must be \"fp16\" or \"fp32\", not {entry.get('bias')!r}"
    if entry["kind"] not in ("int8", "int4") or entry.get("scales") is None:
        return None
    rows = int(w.shape[0]) if len(w.shape) else 1
    row_len = int(np.prod(w.shape[1:], dtype=np.int64)) if len(w.shape) > 1 else 1
    block = int(entry.get("block_size") or 0)
    nblocks = -(-row_len // block) if block and block < row_len else 1
    for key in ("scales", "zero_points"):
        v = entry.get(key)
        if v is None:
            continue
        a = np.asarray(v, np.float64)
        if a.shape != (rows, nblocks):
            return f"{key} have shape {list(a.shape)}, the weight needs {[rows, nblocks]} (rows x blocks)"
        if not np.all(np.isfinite(a)) or (key == "scales" and np.any(a <= 0)):
            return f"{key} must be finite{' and positive' if key == 'scales' else ''}"
    corr = entry.get("bias_correction")
    if corr is not None:
        c = np.asarray(corr, np.float64)
        if c.ndim != 1 or not np.all(np.isfinite(c)):
            return "bias_correction must be a finite vector"
    if entry.get("asymmetric") and entry.get("zero_points") is None:
        return "asymmetric entry without zero_points"
    return None


def compression_spec(entry: dict) -> dict:
    """A params entry as compression.compress_graph's per-layer spec."""
    kind = entry["kind"]
    spec = {"kind": kind, "block_size": int(entry.get("block_size") or 0),
            "asymmetric": bool(entry.get("asymmetric", False)), "explicit": True}
    if kind in ("int8", "int4"):
        if entry.get("scales") is not None:
            spec["scale"] = np.asarray(entry["scales"], np.float32)
        if spec["asymmetric"] and entry.get("zero_points") is not None:
            spec["zero"] = np.asarray(entry["zero_points"], np.float32)
    if entry.get("bias_correction") is not None:
        spec["bias_delta"] = np.asarray(entry["bias_correction"], np.float32)
    if entry.get("bias") in ("fp16", "fp32"):  # absent: the converter's default (fp16 under int8/int4)
        spec["bias_kind"] = entry["bias"]
    return spec
