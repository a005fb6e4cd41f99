"""Graph -> Graph optimisation passes run by the converter. Each pass is one function
`pass_(graph, log) -> Graph` that appends one line per change to `log`; `run_passes` chains them.

Rules every pass keeps:
- Node names are stable: a node that absorbs others keeps its name and lists theirs in
  attrs["fused_from"] (weight quantization later maps layers by these names).
- Graph inputs and outputs keep their names; constants are replaced, never modified in place (they may
  be shared between nodes or be read-only memory maps).
- A pass never needs the runtime to have kernels: folding uses each op's numpy `reference`.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Node, contiguous
from ..ops import registry

# Folding must not turn a small graph into a big file: an output larger than this that is also larger
# than its inputs (ConstantOfShape, Expand, Tile, Range ...) stays a node computed at run time.
FOLD_MAX_BYTES = 1 << 20
# Fused activations (IR contract: attrs "activation"/"activation_params", codes in kernels/act.py).
FUSABLE_PRODUCERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# A residual Add (or Sub/Mul) takes the cheap piecewise-linear activations as an in-place second pass.
BINARY_PRODUCERS = ("Add", "Sub", "Mul")
BINARY_ACTIVATIONS = ("relu", "clip", "hardsigmoid", "hardswish")
CONV_LIKE = ("Conv", "ConvTranspose")
# Tolerance when recognising pattern constants (3, 6, 1/6, HardSigmoid alpha 1/6) stored in float32.
PATTERN_RTOL = 1e-5
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Producers whose outputs have rank >= 1, so x * 1 (a one-element constant) cannot change x's shape.
_RANKED_PRODUCERS = ("Conv", "ConvTranspose", "BatchNormalization", "Gemm", "MaxPool", "AveragePool",
                     "GlobalAveragePool", "GlobalMaxPool", "Concat", "Resize", "LayerNormalization")


# ----- helpers -------------------------------------------------------------------------------------------

def copy_graph(graph: Graph) -> Graph:
    """A graph whose node list, nodes and constant table can be edited without touching `graph`."""
    nodes = [Node(n.name, n.op, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in graph.nodes]
    return Graph(graph.name, nodes, list(graph.inputs), list(graph.outputs), dict(graph.constants),
                 dict(graph.metadata))


def _const(g: Graph, name):
    if not name or name not in g.constants:
        return None
    v = g.constants[name]
    return v if isinstance(v, np.ndarray) else None


def _scalar(g: Graph, name):
    """The value of a one-element float constant, else None."""
    v = _const(g, name)
    if v is None or v.size != 1 or v.dtype.kind != "f":
        return None
    return float(v.reshape(-1)[0])


def _close(value, target) -> bool:
    return value is not None and abs(value - target) <= PATTERN_RTOL * max(1.0, abs(target))


def _uses(g: Graph, name: str) -> int:
    return sum(n.inputs.count(name) for n in g.nodes) + g.outputs.count(name)


def _private(g: Graph, consumers: dict, name: str, user: Node) -> bool:
    """`name` is read only by `user` (once) and is not a graph output: safe to fuse away."""
    users = consumers.get(name, [])
    return len(users) == 1 and users[0] is user and user.inputs.count(name) == 1 and name not in g.outputs


def _set_const_input(g: Graph, node: Node, idx: int, value: np.ndarray, suffix: str) -> None:
    """Give `node` input `idx` the constant `value`: replace it under its own name when this node is its
    only user, otherwise (shared weight, missing bias) under a new name."""
    while len(node.inputs) <= idx:
        node.inputs.append("")
    name = node.inputs[idx]
    if name and name in g.constants and _uses(g, name) == 1 and name not in g.outputs:
        g.constants[name] = value
        return
    new, i = f"{node.name}.{suffix}", 1
    while new in g.constants or any(new in n.outputs for n in g.nodes):
        new, i = f"{node.name}.{suffix}_{i}", i + 1
    g.constants[new] = value
    node.inputs[idx] = new


def _absorb(into: Node, *others: Node) -> None:
    fused = list(into.attrs.get("fused_from", []))
    for o in others:
        fused.extend([o.name, *o.attrs.get("fused_from", [])])
    into.attrs["fused_from"] = fused


def _remove(g: Graph, dead: set) -> None:
    g.nodes = [n for n in g.nodes if id(n) not in dead]


def _rewrite_until_fixed(g: Graph, rewrite_one) -> Graph:
    """Offer every node to rewrite_one(g, node, producers, consumers) -> bool until no call changes the
    graph. A rewrite invalidates the producer/consumer maps, so they are rebuilt after each change."""
    while True:
        producers, consumers = g.producers(), g.consumers()
        if not any(rewrite_one(g, n, producers, consumers) for n in list(g.nodes)):
            return g


def _replace_with(g: Graph, n: Node, new: Node, absorbed: list, log: list, what: str) -> None:
    """`new` takes n's place in the node list; the absorbed nodes are recorded in its fused_from and dropped."""
    _absorb(new, *absorbed)
    dead = {id(a) for a in absorbed}
    g.nodes = [new if m is n else m for m in g.nodes if id(m) not in dead]
    log.append(f"recognised {new.op} at {n.name!r} ({what})")


def _rename_uses(g: Graph, old: str, new: str) -> None:
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]


# ----- identity removal ------------------------------------------------------------------------------------

def remove_identities(g: Graph, log: list) -> Graph:
    """Identity (and Dropout, which the importer turns into Identity) disappear; so do x*1, x/1, x+0, x-0
    with a one-element constant when x is known to have rank >= 1 (PP-OCRv4 rec multiplies by 1.0)."""
    g = copy_graph(g)
    producers = g.producers()
    dead = set()
    input_names = {t.name for t in g.inputs}
    for n in g.nodes:
        src = _identity_source(g, n, producers, input_names)
        if src is None:
            continue
        out = n.outputs[0]
        if out not in g.outputs:
            _rename_uses(g, out, src)
        elif src in producers and src not in g.outputs and src not in input_names:
            # y is a graph output: the producer of x writes y directly, and x's readers read y.
            p = producers[src]
            p.outputs = [out if o == src else o for o in p.outputs]
            _rename_uses(g, src, out)
            producers[out] = p
        elif src in g.constants and src not in g.outputs:
            g.constants[out] = g.constants[src]
        else:
            continue  # input passed straight to an output: keep the node
        dead.add(id(n))
        log.append(f"removed {n.op} {n.name!r}")
    _remove(g, dead)
    return g


def _identity_source(g, n, producers, input_names):
    if n.op == "Identity":
        return n.inputs[0]
    if n.op not in ("Mul", "Div", "Add", "Sub") or len(n.inputs) != 2:
        return None
    neutral = 1.0 if n.op in ("Mul", "Div") else 0.0
    candidates = [(0, 1), (1, 0)] if n.op in ("Mul", "Add") else [(0, 1)]
    for xi, ci in candidates:
        c = _const(g, n.inputs[ci])
        x = n.inputs[xi]
        if c is None or c.size != 1 or c.dtype.kind != "f" or float(c.reshape(-1)[0]) != neutral:
            continue
        if x in g.constants:
            continue  # constant folding handles it
        p = producers.get(x)
        ranked = (p is not None and p.op in _RANKED_PRODUCERS) or \
            any(t.name == x and len(t.shape) >= max(1, c.ndim) for t in g.inputs)
        if c.ndim == 0 or (ranked and c.ndim <= 1):
            return x
    return None


# ----- constant folding -----------------------------------------------------------------------------------

def fold_constants(g: Graph, log: list) -> Graph:
    """Nodes whose inputs are all constants are computed now with the op's numpy reference."""
    g = copy_graph(g)
    dead = set()
    for n in g.nodes:
        ins = [i for i in n.inputs if i]
        if not ins or not all(isinstance(g.constants.get(i), np.ndarray) for i in ins):
            continue
        if not registry.has_op(n.op):
            continue
        opdef = registry.get_op(n.op)
        values = [g.constants[i] if i else None for i in n.inputs]
        try:
            outs = opdef.infer(n, [None if v is None else tuple(v.shape) for v in values],
                               [None if v is None else v.dtype for v in values], values)
        except Exception as e:  # a shape rule that rejects its constants: leave it for prepare() to report
            log.append(f"kept {n.op} {n.name!r}: shape rule failed on its constants ({e})")
            continue
        out_bytes = sum(int(np.prod(s, dtype=np.int64)) * np.dtype(d).itemsize for s, d in outs)
        in_bytes = sum(v.nbytes for v in values if v is not None)
        if out_bytes > FOLD_MAX_BYTES and out_bytes > in_bytes:
            log.append(f"kept {n.op} {n.name!r}: folding would store {out_bytes / 1e6:.1f} MB")
            continue
        results = opdef.reference(n, [None if v is None else np.asarray(v) for v in values])
        for o, r, (shape, dtype) in zip(n.outputs, results, outs):
            if o:
                g.constants[o] = contiguous(np.asarray(r).astype(dtype, copy=False).reshape(shape))
        dead.add(id(n))
        log.append(f"folded {n.op} {n.name!r}")
    _remove(g, dead)
    return g


# ----- BatchNormalization and affine ops into the producing conv -----------------------------------------

def _conv_weight_bias(g, conv):
    w = _const(g, conv.inputs[1]) if len(conv.inputs) > 1 else None
    b = _const(g, conv.inputs[2]) if len(conv.inputs) > 2 and conv.inputs[2] else None
    if w is None or w.dtype != np.float32 or (len(conv.inputs) > 2 and conv.inputs[2] and b is None):
        return None
    return w, b


def _out_channels(conv, w) -> int:
    return w.shape[0] if conv.op == "Conv" else w.shape[1] * int(conv.attrs.get("group", 1))


def _scale_weight(conv, w, s) -> np.ndarray:
    """Multiply output channel k of the weight by s[k] (computed in float64, stored float32)."""
    w64 = w.astype(np.float64)
    if conv.op == "Conv":
        out = w64 * s.reshape((-1,) + (1,) * (w.ndim - 1))
    else:  # ConvTranspose weight: [Cin, Cout/group, k...]
        grp = int(conv.attrs.get("group", 1))
        wg = w64.reshape((grp, w.shape[0] // grp) + w.shape[1:])
        out = (wg * s.reshape((grp, 1, w.shape[1]) + (1,) * (w.ndim - 2))).reshape(w.shape)
    return out.astype(np.float32)


def _fold_into_conv(g, conv, other, scale, shift, what, log):
    """conv output y -> y * scale + shift (per output channel), absorbing node `other`."""
    w, b = _conv_weight_bias(g, conv)
    cout = _out_channels(conv, w)
    b64 = np.zeros(cout) if b is None else b.astype(np.float64)
    new_w = _scale_weight(conv, w, scale)
    new_b = (b64 * scale + shift).astype(np.float32)
    if not (np.isfinite(new_w).all() and np.isfinite(new_b).all()):
        log.append(f"kept {other.op} {other.name!r}: folding into {conv.name!r} overflows float32")
        return False
    _set_const_input(g, conv, 1, new_w, "weight")
    _set_const_input(g, conv, 2, new_b, "bias")
    conv.outputs = list(other.outputs)
    _absorb(conv, other)
    log.append(f"folded {what} {other.name!r} into {conv.op} {conv.name!r}")
    return True


def fold_batchnorm(g: Graph, log: list) -> Graph:
    """BatchNormalization right after a Conv/ConvTranspose whose output feeds nothing else becomes that
    conv's weight scale and bias."""
    g = copy_graph(g)
    producers, consumers = g.producers(), g.consumers()
    dead = set()
    for bn in g.nodes:
        if bn.op != "BatchNormalization":
            continue
        conv = producers.get(bn.inputs[0])
        params = [_const(g, i) for i in bn.inputs[1:5]]
        if conv is None or conv.op not in CONV_LIKE or conv.attrs.get("activation") or \
                not _private(g, consumers, bn.inputs[0], bn) or any(p is None for p in params) or \
                _conv_weight_bias(g, conv) is None:
            continue
        gamma, beta, mean, var = (p.astype(np.float64).reshape(-1) for p in params)
        s = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
        if s.size != _out_channels(conv, _conv_weight_bias(g, conv)[0]):
            continue
        if _fold_into_conv(g, conv, bn, s, beta - mean * s, "BatchNormalization", log):
            dead.add(id(bn))
    _remove(g, dead)
    return g


def _per_channel(c: np.ndarray, conv, cout: int):
    """`c` as a per-output-channel vector if broadcasting it against the conv output ([N, C, spatial...])
    scales channels (not some other axis) and leaves the output shape unchanged; else None."""
    rank = 2 + len(conv.attrs.get("kernel_shape", [])) if "kernel_shape" in conv.attrs else None
    if rank is None or c.ndim > rank or c.dtype != np.float32:
        return None
    if c.size == 1:
        return np.full(cout, float(c.reshape(-1)[0]))
    if c.ndim >= rank - 1 and c.shape[c.ndim - (rank - 1)] == cout and c.size == cout:
        return c.astype(np.float64).reshape(-1)
    return None


def fold_affine(g: Graph, log: list) -> Graph:
    """Mul/Div/Add/Sub by a per-channel (or scalar) constant right after a conv folds into its weight and
    bias: the learnable affine blocks of PP-OCRv4 (conv * a + b) and PaddlePaddle's bias Add after a
    bias-less conv (cls model) disappear, which then lets the activation fuse."""
    def fold(g, n, producers, consumers):
        if n.op not in ("Mul", "Div", "Add", "Sub") or len(n.inputs) != 2:
            return False
        for xi in ((0, 1) if n.op in ("Mul", "Add") else (0,)):
            x, c = n.inputs[xi], _const(g, n.inputs[1 - xi])
            conv = producers.get(x)
            if c is None or conv is None or conv.op not in CONV_LIKE or conv.attrs.get("activation") or \
                    not _private(g, consumers, x, n) or _conv_weight_bias(g, conv) is None:
                continue
            cout = _out_channels(conv, _conv_weight_bias(g, conv)[0])
            v = _per_channel(c, conv, cout)
            if v is None or (n.op == "Div" and not np.all(v != 0)):
                continue
            if n.op == "Mul":
                scale, shift = v, 0.0
            elif n.op == "Div":
                scale, shift = 1.0 / v, 0.0
            else:
                scale, shift = np.ones(cout), (v if n.op == "Add" else -v)
            if _fold_into_conv(g, conv, n, scale, shift, n.op, log):
                g.nodes.remove(n)
                return True
            return False
        return False

    return _rewrite_until_fixed(copy_graph(g), fold)


# ----- HardSwish recognition ------------------------------------------------------------------------------

def recognize_hardswish(g: Graph, log: list) -> Graph:
    """x * HardSigmoid(x; alpha=1/6, beta=0.5), x * Clip(x + 3, 0, 6) / 6 and x * Clip(x + 3, 0, 6) * (1/6)
    (either operand order, or the /6 applied to the Clip) become one "HardSwish" node named after the node
    that produced the result."""
    def recognise(g, n, producers, consumers):
        found = _match_hardswish(g, n, producers, consumers)
        if found is None:
            return False
        x, absorbed = found
        _replace_with(g, n, Node(n.name, "HardSwish", [x], list(n.outputs), {}), absorbed, log,
                      f"from {', '.join(a.name for a in absorbed)}")
        return True

    return _rewrite_until_fixed(copy_graph(g), recognise)


def _binary_with_const(g, node, op, value):
    """(the non-constant input) if `node` is `op` with a one-element constant ~= value, else None."""
    if node is None or node.op != op or len(node.inputs) != 2:
        return None
    order = ((0, 1), (1, 0)) if op in ("Mul", "Add") else ((0, 1),)
    for xi, ci in order:
        if _close(_scalar(g, node.inputs[ci]), value) and node.inputs[xi] not in g.constants:
            return node.inputs[xi]
    return None


def _relu6_of_x_plus_3(g, name, producers, consumers, user):
    """If `name` = Clip(Add(x, 3), 0, 6), privately feeding `user`: (x, [clip, add])."""
    clip = producers.get(name)
    if clip is None or clip.op != "Clip" or len(clip.inputs) != 3 or not _private(g, consumers, name, user):
        return None
    if not (_close(_scalar(g, clip.inputs[1]), 0.0) and _close(_scalar(g, clip.inputs[2]), 6.0)):
        return None
    add = producers.get(clip.inputs[0])
    x = _binary_with_const(g, add, "Add", 3.0)
    if x is None or not _private(g, consumers, clip.inputs[0], clip):
        return None
    return x, [clip, add]


def _match_hardswish(g, n, producers, consumers):
    if n.op == "Mul" and len(n.inputs) == 2:
        for xi in (0, 1):
            x, other = n.inputs[xi], n.inputs[1 - xi]
            p = producers.get(other)
            # x * HardSigmoid(x)
            if p is not None and p.op == "HardSigmoid" and p.inputs[0] == x and _private(g, consumers, other, n) \
                    and _close(p.attrs.get("alpha", 0.2), 1 / 6) and _close(p.attrs.get("beta", 0.5), 0.5):
                return x, [p]
            # x * (Clip(x + 3, 0, 6) / 6)
            scaled = _binary_with_const(g, p, "Div", 6.0) or _binary_with_const(g, p, "Mul", 1 / 6)
            if scaled is not None and _private(g, consumers, other, n):
                inner = _relu6_of_x_plus_3(g, scaled, producers, consumers, p)
                if inner is not None and inner[0] == x:
                    return x, [p, *inner[1]]
    # (x * Clip(x + 3, 0, 6)) / 6  or  * (1/6)
    m_name = _binary_with_const(g, n, "Div", 6.0) or _binary_with_const(g, n, "Mul", 1 / 6)
    m = producers.get(m_name) if m_name else None
    if m is None or m.op != "Mul" or len(m.inputs) != 2 or not _private(g, consumers, m_name, n):
        return None
    for xi in (0, 1):
        inner = _relu6_of_x_plus_3(g, m.inputs[1 - xi], producers, consumers, m)
        if inner is not None and inner[0] == m.inputs[xi]:
            return m.inputs[xi], [m, *inner[1]]
    return None


# ----- GELU recognition -----------------------------------------------------------------------------------

SQRT2 = float(np.sqrt(2.0))


def recognize_gelu(g: Graph, log: list) -> Graph:
    """The erf form exporters emit below opset 20, 0.5 * x * (1 + Erf(x / sqrt(2))) (x * 0.5 first, or the
    0.5 last; / sqrt(2) or * (1 / sqrt(2))), becomes one Gelu node (then fusable into a MatMul/Gemm/Conv)."""
    g = copy_graph(g)
    if not registry.has_op("Gelu"):
        return g

    def recognise(g, n, producers, consumers):
        found = _match_gelu(g, n, producers, consumers)
        if found is None:
            return False
        x, absorbed = found
        _replace_with(g, n, Node(n.name, "Gelu", [x], list(n.outputs), {"approximate": "none"}), absorbed, log,
                      f"from {', '.join(a.name for a in absorbed)}")
        return True

    return _rewrite_until_fixed(g, recognise)


def _one_plus_erf(g, name, x, producers, consumers, user):
    """If `name` = Add(Erf(x / sqrt2), 1), privately feeding `user`: [add, erf, scale] nodes, else None."""
    add = producers.get(name)
    e_name = _binary_with_const(g, add, "Add", 1.0)
    if e_name is None or not _private(g, consumers, name, user):
        return None
    erf = producers.get(e_name)
    if erf is None or erf.op != "Erf" or not _private(g, consumers, e_name, add):
        return None
    scale = producers.get(erf.inputs[0])
    if not _private(g, consumers, erf.inputs[0], erf):
        return None
    if _binary_with_const(g, scale, "Div", SQRT2) == x or _binary_with_const(g, scale, "Mul", 1 / SQRT2) == x:
        return [add, erf, scale]
    return None


def _match_gelu(g, n, producers, consumers):
    if n.op != "Mul" or len(n.inputs) != 2:
        return None
    # (x * (1 + erf(x / sqrt2))) * 0.5
    m_name = _binary_with_const(g, n, "Mul", 0.5)
    m = producers.get(m_name) if m_name else None
    if m is not None and m.op == "Mul" and len(m.inputs) == 2 and _private(g, consumers, m_name, n):
        for xi in (0, 1):
            inner = _one_plus_erf(g, m.inputs[1 - xi], m.inputs[xi], producers, consumers, m)
            if inner is not None:
                return m.inputs[xi], [m, *inner]
    # (x * 0.5) * (1 + erf(x / sqrt2))
    for hi in (0, 1):
        h = producers.get(n.inputs[hi])
        x = _binary_with_const(g, h, "Mul", 0.5)
        if x is None or not _private(g, consumers, n.inputs[hi], n):
            continue
        inner = _one_plus_erf(g, n.inputs[1 - hi], x, producers, consumers, n)
        if inner is not None:
            return x, [h, *inner]
    return None


# ----- activation fusion ----------------------------------------------------------------------------------

def _activation_of(g, a):
    """(name, params) of activation node `a` as a fused epilogue, or None if it cannot be fused."""
    if a.op == "Relu":
        return "relu", [0.0, 0.0]
    if a.op == "Sigmoid":
        return "sigmoid", [0.0, 0.0]
    if a.op == "Tanh":
        return "tanh", [0.0, 0.0]
    if a.op == "HardSwish":
        return "hardswish", [0.0, 0.0]
    if a.op == "Gelu" and a.attrs.get("approximate", "none") == "none":
        return "gelu", [0.0, 0.0]
    if a.op == "HardSigmoid":
        return "hardsigmoid", [float(a.attrs.get("alpha", 0.2)), float(a.attrs.get("beta", 0.5))]
    if a.op == "Clip":
        bounds = []
        for i, default in ((1, -FLOAT32_MAX), (2, FLOAT32_MAX)):
            name = a.inputs[i] if len(a.inputs) > i else ""
            if not name:
                bounds.append(default)
                continue
            v = _scalar(g, name)
            if v is None:
                return None
            bounds.append(max(min(v, FLOAT32_MAX), -FLOAT32_MAX))
        if bounds[0] == 0.0 and bounds[1] == FLOAT32_MAX:
            return "relu", [0.0, 0.0]
        return "clip", bounds
    return None


def fuse_activations(g: Graph, log: list) -> Graph:
    """Relu / Clip (constant bounds) / Sigmoid / HardSigmoid / HardSwish / Tanh / Gelu and x * Sigmoid(x) (SiLU)
    after a Conv, ConvTranspose, Gemm or MatMul become its fused epilogue, when the producer's output
    feeds only the activation and is not a graph output; Relu/Clip/HardSigmoid/HardSwish after a binary
    Add/Sub/Mul (the residual Add + ReLU of ResNets) likewise."""
    g = copy_graph(g)
    producers, consumers = g.producers(), g.consumers()
    dead = set()
    for a in g.nodes:
        if id(a) in dead or not a.inputs:
            continue
        p = producers.get(a.inputs[0])
        binary = p is not None and p.op in BINARY_PRODUCERS
        if p is None or (p.op not in FUSABLE_PRODUCERS and not binary) or p.attrs.get("activation") \
                or id(p) in dead:
            continue
        y = a.inputs[0]
        act = _activation_of(g, a)
        if binary and (act is None or act[0] not in BINARY_ACTIVATIONS):
            continue
        absorbed = [a]
        if act is not None and _private(g, consumers, y, a):
            pass
        elif a.op == "Sigmoid":
            act, absorbed = _silu(g, a, y, consumers)
            if act is None:
                continue
        else:
            continue
        p.attrs["activation"], p.attrs["activation_params"] = act
        p.outputs = list(absorbed[-1].outputs)
        _absorb(p, *absorbed)
        dead.update(id(x) for x in absorbed)
        for x in absorbed:
            for o in x.outputs:
                producers[o] = p
        log.append(f"fused {'+'.join(x.op for x in absorbed)} {absorbed[-1].name!r} into {p.op} {p.name!r}"
                   f" as {act[0]}")
    _remove(g, dead)
    return g


def _silu(g, sig, y, consumers):
    """y feeds exactly Sigmoid(y) and Mul(y, Sigmoid(y)): the pair is SiLU."""
    users = consumers.get(y, [])
    if len(users) != 2 or y in g.outputs:
        return None, None
    mul = next((u for u in users if u is not sig), None)
    s_out = sig.outputs[0]
    if mul is None or mul.op != "Mul" or sorted(mul.inputs) != sorted([y, s_out]) or \
            not _private(g, consumers, s_out, mul):
        return None, None
    return ("silu", [0.0, 0.0]), [sig, mul]


# ----- LayerNormalization recognition --------------------------------------------------------------------

def recognize_layernorm(g: Graph, log: list) -> Graph:
    """The decomposed layer norm exporters emit (PP-OCRv4 rec's SVTR blocks):
        m = ReduceMean(x, axes=[-1]); d = x - m; v = ReduceMean(d^2, axes=[-1]); n = d / Sqrt(v + eps)
        y = n * gamma + beta
    becomes LayerNormalization(x, gamma, beta, axis=-1, epsilon=eps), named after the final node."""
    g = copy_graph(g)
    if not registry.has_op("LayerNormalization"):
        return g

    def recognise(g, n, producers, consumers):
        found = _match_layernorm(g, n, producers, consumers)
        if found is None:
            return False
        x, gamma, beta, eps, absorbed = found
        ln = Node(n.name, "LayerNormalization", [x, gamma] + ([beta] if beta else []), list(n.outputs),
                  {"axis": -1, "epsilon": eps, "stash_type": 1})
        _replace_with(g, n, ln, absorbed, log, f"{len(absorbed) + 1} nodes")
        return True

    return _rewrite_until_fixed(g, recognise)


def _last_axis_mean(node) -> bool:
    return node is not None and node.op == "ReduceMean" and list(node.attrs.get("axes", [])) == [-1] \
        and int(node.attrs.get("keepdims", 1)) == 1 and len([i for i in node.inputs if i]) == 1


def _const_operand(g, node, op):
    """(other input, constant input name) if `node` is binary `op` with one constant operand."""
    if node is None or node.op != op or len(node.inputs) != 2:
        return None
    for xi in ((0, 1) if op in ("Mul", "Add") else (0,)):
        if _const(g, node.inputs[1 - xi]) is not None and node.inputs[xi] not in g.constants:
            return node.inputs[xi], node.inputs[1 - xi]
    return None


def _match_layernorm(g, end, producers, consumers):
    add_b = _const_operand(g, end, "Add")
    mul_node, beta = (producers.get(add_b[0]), add_b[1]) if add_b else (end, "")
    if add_b and not _private(g, consumers, add_b[0], end):
        return None
    if not add_b:  # a Mul end: leave it to the Add of beta after it, if there is one
        users = consumers.get(end.outputs[0], [])
        if len(users) == 1 and _const_operand(g, users[0], "Add") and end.outputs[0] not in g.outputs:
            return None
    mul_g = _const_operand(g, mul_node, "Mul")
    if mul_g is None:
        return None
    div = producers.get(mul_g[0])
    gamma = mul_g[1]
    gv, bv = _const(g, gamma), _const(g, beta) if beta else None
    if gv.ndim != 1 or gv.dtype != np.float32 or (bv is not None and (bv.shape != gv.shape or bv.dtype != np.float32)):
        return None
    if div is None or div.op != "Div" or not _private(g, consumers, mul_g[0], mul_node):
        return None
    d, s_name = div.inputs
    sqrt = producers.get(s_name)
    if sqrt is None or sqrt.op != "Sqrt" or not _private(g, consumers, s_name, div):
        return None
    add_eps = _const_operand(g, producers.get(sqrt.inputs[0]), "Add")
    eps = _scalar(g, add_eps[1]) if add_eps else None
    if eps is None or not _private(g, consumers, sqrt.inputs[0], sqrt):
        return None
    var = producers.get(add_eps[0])
    if not _last_axis_mean(var) or not _private(g, consumers, add_eps[0], producers[sqrt.inputs[0]]):
        return None
    sq = producers.get(var.inputs[0])
    if sq is None or not _private(g, consumers, var.inputs[0], var):
        return None
    if sq.op == "Pow" and sq.inputs[0] == d and _close(_scalar(g, sq.inputs[1]), 2.0):
        pass
    elif not (sq.op == "Mul" and sq.inputs == [d, d]):
        return None
    sub = producers.get(d)
    users = consumers.get(d, [])
    if sub is None or sub.op != "Sub" or d in g.outputs or {id(u) for u in users} != {id(sq), id(div)}:
        return None
    x, m_name = sub.inputs
    mean = producers.get(m_name)
    if not _last_axis_mean(mean) or mean.inputs[0] != x or not _private(g, consumers, m_name, sub):
        return None
    absorbed = [mean, sub, sq, var, producers[sqrt.inputs[0]], sqrt, div] + ([mul_node] if add_b else [])
    return x, gamma, beta, eps, absorbed


# ----- scalar affine before a conv -----------------------------------------------------------------------

def fold_affine_into_next_conv(g: Graph, log: list) -> Graph:
    """y = x * a + b (one-element constants; PP-OCRv4's learnable affine after an activation) read only by
    Convs folds into their weights: W' = a * W, bias' = bias + b * sum(W over its input window). Exact
    only where the conv adds no zero padding (padding would see b where the original saw 0), so a conv
    with padding takes the fold only when b == 0."""
    def fold(g, n, producers, consumers):
        found = _match_scalar_affine(g, n, producers, consumers)
        if found is None:
            return False
        x, a, b, absorbed = found
        convs = consumers.get(n.outputs[0], [])
        if not convs or n.outputs[0] in g.outputs or not all(_takes_input_affine(g, c, n.outputs[0], b)
                                                                for c in convs):
            return False
        for conv in convs:
            w, bias = _conv_weight_bias(g, conv)
            w64 = w.astype(np.float64)
            b64 = np.zeros(w.shape[0]) if bias is None else bias.astype(np.float64)
            new_b = b64 + b * w64.reshape(w.shape[0], -1).sum(axis=1)
            _set_const_input(g, conv, 1, (w64 * a).astype(np.float32), "weight")
            _set_const_input(g, conv, 2, new_b.astype(np.float32), "bias")
            conv.inputs[0] = x
            _absorb(conv, *absorbed)
        _remove(g, {id(m) for m in absorbed})
        log.append(f"folded {'+'.join(m.op for m in absorbed)} {n.name!r} into "
                   f"{', '.join(repr(c.name) for c in convs)}")
        return True

    return _rewrite_until_fixed(copy_graph(g), fold)


def _match_scalar_affine(g, n, producers, consumers):
    """n = Add(Mul(x, a), b) | Mul(x, a) | Add(x, b) with one-element float constants: (x, a, b, nodes)."""
    add = _const_operand(g, n, "Add")
    if add is not None and _scalar(g, add[1]) is not None:
        b = _scalar(g, add[1])
        mul_node = producers.get(add[0])
        mul = _const_operand(g, mul_node, "Mul")
        if mul is not None and _scalar(g, mul[1]) is not None and _private(g, consumers, add[0], n):
            return mul[0], _scalar(g, mul[1]), b, [mul_node, n]
        return add[0], 1.0, b, [n]
    mul = _const_operand(g, n, "Mul")
    if mul is not None and _scalar(g, mul[1]) is not None:
        return mul[0], _scalar(g, mul[1]), 0.0, [n]
    return None


def _takes_input_affine(g, conv, name, b) -> bool:
    if conv.op != "Conv" or conv.inputs[0] != name or conv.inputs.count(name) != 1 or "auto_pad" in conv.attrs:
        return False
    wb = _conv_weight_bias(g, conv)
    if wb is None:
        return False
    return b == 0.0 or not any(conv.attrs.get("pads", [1]))


# ----- dead code ------------------------------------------------------------------------------------------

def remove_dead_nodes(g: Graph, log: list) -> Graph:
    """Nodes none of whose outputs reach a graph output."""
    g = copy_graph(g)
    live = set(g.outputs)
    keep = []
    for n in reversed(g.nodes):
        if any(o in live for o in n.outputs if o):
            keep.append(n)
            live.update(i for i in n.inputs if i)
        else:
            log.append(f"removed unused {n.op} {n.name!r}")
    g.nodes = keep[::-1]
    return g


def remove_unused_constants(g: Graph, log: list) -> Graph:
    g = copy_graph(g)
    used = {i for n in g.nodes for i in n.inputs if i} | set(g.outputs)
    for name in [c for c in g.constants if c not in used]:
        del g.constants[name]
        log.append(f"removed unused constant {name!r}")
    return g


# ----- the pipeline ---------------------------------------------------------------------------------------

# Run repeatedly until nothing changes (folding exposes identities, identities expose folds ...).
SIMPLIFY = (remove_identities, fold_constants, fold_batchnorm, fold_affine)
FUSE = (recognize_hardswish, recognize_gelu, recognize_layernorm, fuse_activations, fold_affine_into_next_conv)
CLEANUP = (remove_dead_nodes, remove_unused_constants)
MAX_ROUNDS = 5


def run_passes(graph: Graph, log: dict | None = None) -> Graph:
    """All passes in order; `log` (if given) receives {pass name: [one line per change]}."""
    log = {} if log is None else log

    def apply(fn, g):
        lines: list = []
        g = fn(g, lines)
        seen = log.setdefault(fn.__name__, [])
        seen.extend(x for x in lines if x not in seen)  # "kept ..." lines repeat each round
        return g, bool([x for x in lines if not x.startswith("kept")])

    g = graph
    for _ in range(MAX_ROUNDS):
        any_change = False
        for fn in SIMPLIFY:
            g, changed = apply(fn, g)
            any_change |= changed
        if not any_change:
            break
    for fn in FUSE + CLEANUP:
        g, _ = apply(fn, g)
    g.validate()
    return g
