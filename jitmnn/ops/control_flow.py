"""Control flow: If, Loop and Scan. Each body (an ONNX subgraph the converter keeps serialized) runs as a
jitmnn graph of its own: converted once per input dtypes/ranks, planned per shape like any model, with the
values it reads from the enclosing graph fed as inputs. Which branch runs, and how many iterations, depends
on data, so these nodes end a plan segment (data_dependent) unless every input is known at plan time."""

from __future__ import annotations

import base64
import functools
import threading
from collections import OrderedDict

import numpy as np

from ..errors import ShapeError
from .registry import OpDef, RunTimeValuesNeeded, register_op

_BODIES: OrderedDict = OrderedDict()  # (body key, input signature) -> Module, least recently used first
_LOCK = threading.Lock()
# Bodies kept converted and planned at once; an evicted one is converted again when next run.
MAX_BODIES = 64


@functools.lru_cache(maxsize=256)
def _proto(encoded: str):
    import onnx

    g = onnx.GraphProto()
    g.ParseFromString(base64.b64decode(encoded))
    return g


def _body_module(encoded: str, opset: int, feeds: dict):
    """The jitmnn module running this body for inputs of these dtypes and ranks (converted once)."""
    signature = tuple((n, a.dtype.str, a.ndim) for n, a in feeds.items())
    key = (hash(encoded), encoded[:64], opset, signature)
    with _LOCK:
        module = _BODIES.get(key)
        if module is not None:
            _BODIES.move_to_end(key)
            return module
    import onnx
    from onnx import helper

    from ..converter.api import onnx_to_graph
    from ..module import from_graph

    g = onnx.GraphProto()
    g.CopyFrom(_proto(encoded))
    del g.input[:]
    for name, a in feeds.items():
        g.input.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), [None] * a.ndim))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", int(opset))])
    module = from_graph(onnx_to_graph(model))
    with _LOCK:
        module = _BODIES.setdefault(key, module)
        while len(_BODIES) > MAX_BODIES:
            _BODIES.popitem(last=False)
    return module


def _run_body(node, attr: str, values: list) -> list:
    """Run the body in attribute `attr` with its declared inputs bound to `values`, plus the outer values."""
    encoded = node.attrs[attr]
    body = _proto(encoded)
    names = [i.name for i in body.input]
    if len(values) != len(names):
        raise ShapeError(f"{node.op} {node.name!r}: its {attr} takes {len(names)} inputs, got {len(values)}")
    feeds = dict(zip(names, (np.asarray(v) for v in values)))
    feeds.update(_outer(node))
    module = _body_module(encoded, node.attrs.get("opset", 13), feeds)
    result = module._root.run(feeds)  # inputs built here, not by a user: the Module's checks are skipped
    return [result[o.name] for o in body.output]


def _outer(node) -> dict:
    return dict(zip(node.attrs.get("outer_inputs", []), node.attrs.get("_outer_values", [])))


def _with_outer(node, x):
    """Split the inputs into the op's own and the outer values its bodies read; the outer values ride on a
    copy of the node (the plan's node stays as it is)."""
    from dataclasses import replace

    n = int(node.attrs.get("n_inputs", len(node.inputs)))
    own, outer = list(x[:n]), [np.asarray(v) for v in x[n:]]
    return replace(node, attrs={**node.attrs, "_outer_values": outer}), own


def _ref_if(node, x):
    node, own = _with_outer(node, x)
    cond = np.asarray(own[0])
    if cond.size != 1:
        raise ShapeError(f"If {node.name!r}: cond must hold one element, got shape {cond.shape}")
    return _run_body(node, "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch", [])


def _ref_loop(node, x):
    node, own = _with_outer(node, x)
    trip, cond, carried = own[0], own[1] if len(own) > 1 else None, list(own[2:])
    body = _proto(node.attrs["body"])
    n_scan = len(body.output) - 1 - len(carried)
    max_trip = int(np.asarray(trip).reshape(-1)[0]) if trip is not None else None
    keep = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
    scans: list = [[] for _ in range(n_scan)]
    i = 0
    while keep and (max_trip is None or i < max_trip):
        outs = _run_body(node, "body", [np.array(i, np.int64), np.array(keep)] + carried)
        keep = bool(np.asarray(outs[0]).reshape(-1)[0])
        carried = list(outs[1:1 + len(carried)])
        for k, s in enumerate(outs[1 + len(carried):]):
            scans[k].append(np.asarray(s))
        i += 1
    stacked = []
    for k, s in enumerate(scans):
        if s:
            stacked.append(np.stack(s))
        else:  # no iteration ran: an empty scan output of the body's declared element type
            from onnx import helper

            elem = body.output[1 + len(carried) + k].type.tensor_type.elem_type
            stacked.append(np.zeros((0,), helper.tensor_dtype_to_np_dtype(elem) if elem else np.float32))
    return carried + stacked


def _ref_scan(node, x):
    node, own = _with_outer(node, x)
    if int(node.attrs.get("opset", 13)) < 9:
        return _scan8(node, own)
    n_scan_in = int(node.attrs["num_scan_inputs"])
    states, scan_in = list(own[:len(own) - n_scan_in]), list(own[len(own) - n_scan_in:])
    return _scan(node, states, scan_in)


def _scan(node, states, scan_in):
    body = _proto(node.attrs["body"])
    n_in = len(scan_in)
    in_axes = [int(a) % np.ndim(s) for a, s in zip(node.attrs.get("scan_input_axes", [0] * n_in), scan_in)]
    in_dirs = node.attrs.get("scan_input_directions", [0] * n_in)
    steps = {s.shape[a] for s, a in zip(scan_in, in_axes)}
    if len(steps) != 1:
        raise ShapeError(f"Scan {node.name!r}: scan inputs disagree on the sequence length: {sorted(steps)}")
    length = steps.pop()
    n_out = len(body.output) - len(states)
    outs: list = [[] for _ in range(n_out)]
    for t in range(length):
        slices = [np.take(s, length - 1 - t if d else t, axis=a) for s, a, d in zip(scan_in, in_axes, in_dirs)]
        res = _run_body(node, "body", states + slices)
        states = list(res[:len(states)])
        for k, o in enumerate(res[len(states):]):
            outs[k].append(np.asarray(o))
    out_axes = node.attrs.get("scan_output_axes", [0] * n_out)
    out_dirs = node.attrs.get("scan_output_directions", [0] * n_out)
    scanned = []
    for k, seq in enumerate(outs):
        y = np.stack(seq) if seq else np.zeros((0,), np.float32)
        if out_dirs[k]:
            y = y[::-1]
        scanned.append(np.ascontiguousarray(np.moveaxis(y, 0, int(out_axes[k]) % y.ndim)))
    return states + scanned


def _scan8(node, own):
    """Scan-8: a leading batch axis on every state and scan input (scan axis 1), optional sequence_lens."""
    lens, rest = own[0], own[1:]
    n_scan_in = int(node.attrs["num_scan_inputs"])
    states, scan_in = rest[:len(rest) - n_scan_in], rest[len(rest) - n_scan_in:]
    if lens is not None and np.size(lens) and np.any(np.asarray(lens) != scan_in[0].shape[1]):
        raise ShapeError(f"Scan-8 {node.name!r}: sequence_lens shorter than the sequence is not supported")
    attrs = {**node.attrs, "scan_input_axes": [0] * n_scan_in,
             "scan_input_directions": node.attrs.get("directions", [0] * n_scan_in)}
    inner = type(node)(node.name, node.op, node.inputs, node.outputs, attrs)
    per_batch = [_scan(inner, [s[b] for s in states], [s[b] for s in scan_in]) for b in range(scan_in[0].shape[0])]
    return [np.stack([r[k] for r in per_batch]) for k in range(len(per_batch[0]))]


def _infer_from_values(ref):
    def infer(node, shapes, dtypes, consts):
        if any(v is None for name, v in zip(node.inputs, consts) if name):
            raise RunTimeValuesNeeded(node.name)
        results = ref(node, [None if v is None else np.asarray(v) for v in consts])
        return [(np.shape(r), np.asarray(r).dtype) for r in results]
    return infer


for _name, _ref in (("If", _ref_if), ("Loop", _ref_loop), ("Scan", _ref_scan)):
    register_op(OpDef(_name, _infer_from_values(_ref), _ref, data_dependent=True))
