"""LSTM / GRU / RNN references: one batch entry and one time step at a time, float64, activations as scalar
math on each hidden unit, written from the ONNX operator definitions (not from jitmnn's reference).

Conventions pinned against ONNX Runtime 1.32 on random cases: activation_alpha/beta are consumed in order by
the activations that take them; an entry with sequence length 0 outputs a zero Y_h/Y_c; input_forget
couples f = 1 - i. Missing alphas follow the ONNX spec's defaults (the ops of the same name)."""

import math

import numpy as np

_DEFAULT = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_TAKES = {  # name -> (default alpha or None if it takes none, default beta or None)
    "affine": (1.0, 0.0), "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None), "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5), "elu": (1.0, None),
}


def _scalar_act(name, a, b):
    def f(v):
        if name == "sigmoid":
            return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))
        if name == "tanh":
            return math.tanh(v)
        if name == "relu":
            return max(v, 0.0)
        if name == "affine":
            return a * v + b
        if name == "leakyrelu":
            return v if v >= 0 else a * v
        if name == "thresholdedrelu":
            return v if v > a else 0.0
        if name == "scaledtanh":
            return a * math.tanh(b * v)
        if name == "hardsigmoid":
            return min(max(a * v + b, 0.0), 1.0)
        if name == "elu":
            return v if v >= 0 else a * (math.exp(v) - 1.0)
        if name == "softsign":
            return v / (1.0 + abs(v))
        if name == "softplus":
            return v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))
        raise ValueError(name)
    return f


def _activations(op, attrs, nd):
    names = [n.decode() if isinstance(n, bytes) else n for n in attrs.get("activations", _DEFAULT[op] * nd)]
    alphas, betas = list(attrs.get("activation_alpha", [])), list(attrs.get("activation_beta", []))
    fns = []
    for n in names:
        n = n.lower()
        da, db = _TAKES.get(n, (None, None))
        a = (alphas.pop(0) if alphas else da) if da is not None else 0.0
        b = (betas.pop(0) if betas else db) if db is not None else 0.0
        fns.append(_scalar_act(n, a, b))
    per = len(_DEFAULT[op])
    return [fns[d * per:(d + 1) * per] for d in range(nd)]


def _vec(fn, v):
    return np.array([fn(float(e)) for e in v])


def _recurrent(op, attrs, inputs):
    inputs = list(inputs) + [None] * 8
    x, w, r = (np.asarray(inputs[i], np.float64) for i in range(3))
    layout = attrs.get("layout", 0)
    if layout:
        x = x.transpose(1, 0, 2)
    seq, batch, _ = x.shape
    nd = w.shape[0]
    hid = r.shape[2]
    ng = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    bias = np.asarray(inputs[3], np.float64) if inputs[3] is not None else np.zeros((nd, 2 * ng * hid))
    lens = np.asarray(inputs[4]).tolist() if inputs[4] is not None else [seq] * batch

    def initial(i):
        if inputs[i] is None:
            return np.zeros((nd, batch, hid))
        s = np.asarray(inputs[i], np.float64)
        return s.transpose(1, 0, 2) if layout else s

    h0, c0 = initial(5), initial(6) if op == "LSTM" else None
    peep = np.asarray(inputs[7], np.float64) if op == "LSTM" and inputs[7] is not None else np.zeros((nd, 3 * hid))
    direction = attrs.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    clip_at = attrs.get("clip")
    clip = (lambda v: np.clip(v, -clip_at, clip_at)) if clip_at is not None else (lambda v: v)
    acts = _activations(op, attrs, nd)
    y = np.zeros((seq, nd, batch, hid))
    yh, yc = np.zeros((nd, batch, hid)), np.zeros((nd, batch, hid))
    for d in range(nd):
        backwards = direction == "reverse" or d == 1
        W = [w[d, k * hid:(k + 1) * hid] for k in range(ng)]
        R = [r[d, k * hid:(k + 1) * hid] for k in range(ng)]
        Wb = [bias[d, k * hid:(k + 1) * hid] for k in range(ng)]
        Rb = [bias[d, (ng + k) * hid:(ng + k + 1) * hid] for k in range(ng)]
        for b in range(batch):
            h = h0[d, b].copy()
            c = c0[d, b].copy() if op == "LSTM" else None
            steps = range(lens[b] - 1, -1, -1) if backwards else range(lens[b])
            for t in steps:
                xt = x[t, b]
                if op == "RNN":
                    (f,) = acts[d]
                    h = _vec(f, clip(W[0] @ xt + R[0] @ h + Wb[0] + Rb[0]))
                elif op == "GRU":
                    f, g = acts[d]
                    z = _vec(f, clip(W[0] @ xt + R[0] @ h + Wb[0] + Rb[0]))
                    rr = _vec(f, clip(W[1] @ xt + R[1] @ h + Wb[1] + Rb[1]))
                    if attrs.get("linear_before_reset", 0):
                        n = _vec(g, clip(W[2] @ xt + rr * (R[2] @ h + Rb[2]) + Wb[2]))
                    else:
                        n = _vec(g, clip(W[2] @ xt + R[2] @ (rr * h) + Rb[2] + Wb[2]))
                    h = (1.0 - z) * n + z * h
                else:
                    f, g, hf = acts[d]
                    pi, po, pf = peep[d, :hid], peep[d, hid:2 * hid], peep[d, 2 * hid:]
                    i = _vec(f, clip(W[0] @ xt + R[0] @ h + Wb[0] + Rb[0] + pi * c))
                    if attrs.get("input_forget", 0):
                        fg = 1.0 - i
                    else:
                        fg = _vec(f, clip(W[2] @ xt + R[2] @ h + Wb[2] + Rb[2] + pf * c))
                    cc = _vec(g, clip(W[3] @ xt + R[3] @ h + Wb[3] + Rb[3]))
                    c = fg * c + i * cc
                    o = _vec(f, clip(W[1] @ xt + R[1] @ h + Wb[1] + Rb[1] + po * c))
                    h = o * _vec(hf, c)
                y[t, d, b] = h
            if lens[b] > 0:
                yh[d, b] = h
                if op == "LSTM":
                    yc[d, b] = c
    if layout:
        y, yh, yc = y.transpose(2, 0, 1, 3), yh.transpose(1, 0, 2), yc.transpose(1, 0, 2)
    return [y, yh, yc] if op == "LSTM" else [y, yh]


REFERENCES = {op: (lambda attrs, inputs, op=op: _recurrent(op, attrs, inputs)) for op in ("LSTM", "GRU", "RNN")}
