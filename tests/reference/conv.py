"""Independent float64 references for the conv/GEMM family: explicit per-output-pixel loops with
bounds checks (no padding, no im2col, no einsum) -- deliberately different code from the OpDef
references and the kernels."""

import itertools
import math

import numpy as np


def _act(y, attrs):
    name = attrs.get("activation")
    p = list(attrs.get("activation_params") or []) + [0.0, 0.0]
    if not name:
        return y
    f = {
        "relu": lambda v: v if v > 0 else 0.0,
        "clip": lambda v: min(max(v, p[0]), p[1]),
        "hardsigmoid": lambda v: min(max(p[0] * v + p[1], 0.0), 1.0),
        "hardswish": lambda v: v * min(max(v + 3.0, 0.0), 6.0) / 6.0,
        "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
        "silu": lambda v: v / (1.0 + math.exp(-v)),
        "tanh": math.tanh,
        "gelu": lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))),
    }[name]
    flat = y.reshape(-1)
    for i in range(flat.size):
        flat[i] = f(float(flat[i]))
    return y


def _spatial(attrs, x, w):
    r = x.ndim - 2
    ks = list(attrs.get("kernel_shape") or w.shape[2:])
    st = list(attrs.get("strides") or [1] * r)
    dl = list(attrs.get("dilations") or [1] * r)
    pads = list(attrs.get("pads") or [0] * (2 * r))
    return r, ks, st, dl, pads


def _same_pads(attrs, sp, ks, st, dl):
    """Conv auto_pad SAME_*: output ceil(in / stride), the odd padding at the end (UPPER) or start (LOWER)."""
    r = len(sp)
    begin, end = [], []
    for i in range(r):
        total = max(0, (math.ceil(sp[i] / st[i]) - 1) * st[i] + (ks[i] - 1) * dl[i] + 1 - sp[i])
        small, big = total // 2, total - total // 2
        begin.append(small if attrs["auto_pad"] == "SAME_UPPER" else big)
        end.append(big if attrs["auto_pad"] == "SAME_UPPER" else small)
    return begin + end


def conv(attrs, inputs):
    """Any spatial rank: every output position, every tap (itertools.product), bounds-checked dot products."""
    x, w = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    b = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    r, ks, st, dl, pads = _spatial(attrs, x, w)
    g = int(attrs.get("group", 1))
    N, C = x.shape[:2]
    sp = x.shape[2:]
    if attrs.get("auto_pad") in ("SAME_UPPER", "SAME_LOWER"):
        pads = _same_pads(attrs, sp, ks, st, dl)
    K, Cg = w.shape[:2]
    Kg = K // g
    out = [(sp[i] + pads[i] + pads[r + i] - (ks[i] - 1) * dl[i] - 1) // st[i] + 1 for i in range(r)]
    y = np.zeros((N, K) + tuple(out))
    for n, k in itertools.product(range(N), range(K)):
        gi = k // Kg
        xs = x[n, gi * Cg:(gi + 1) * Cg]
        for pos in itertools.product(*[range(o) for o in out]):
            acc = 0.0 if b is None else float(b[k])
            for tap in itertools.product(*[range(kk) for kk in ks]):
                where = tuple(pos[i] * st[i] - pads[i] + tap[i] * dl[i] for i in range(r))
                if all(0 <= where[i] < sp[i] for i in range(r)):
                    acc += float(np.dot(xs[(slice(None),) + where], w[(k, slice(None)) + tap]))
            y[(n, k) + pos] = acc
    return [_act(y, attrs)]


def conv_transpose(attrs, inputs):
    """Any spatial rank, scatter form: y[n, k, i*s - pad + j*d] += x[n, c, i] * w[c, k', j], bounds-checked.
    With output_shape the pads come from ONNX's total_padding = full extent - output_shape, split by floor
    division (SAME_UPPER: the odd one at the end; otherwise at the start); a negative total widens."""
    x, w = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    b = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    r, ks, st, dl, pads = _spatial(attrs, x, w)
    g = int(attrs.get("group", 1))
    op = list(attrs.get("output_padding") or [0] * r)
    N, C = x.shape[:2]
    sp = x.shape[2:]
    Cg, Kg = C // g, w.shape[1]
    K = Kg * g
    full = [st[i] * (sp[i] - 1) + op[i] + (ks[i] - 1) * dl[i] + 1 for i in range(r)]
    out = [full[i] - pads[i] - pads[r + i] for i in range(r)]
    out_shape = attrs.get("output_shape")
    if not out_shape and attrs.get("auto_pad") in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [sp[i] * st[i] for i in range(r)]
    if out_shape:
        out = list(out_shape)[-r:]
        tot = [full[i] - out[i] for i in range(r)]
        if attrs.get("auto_pad") == "SAME_UPPER":
            pads = [t // 2 for t in tot] + [t - t // 2 for t in tot]
        else:
            pads = [t - t // 2 for t in tot] + [t // 2 for t in tot]
    y = np.zeros((N, K) + tuple(out))
    for n, c in itertools.product(range(N), range(C)):
        gi = c // Cg
        for pos in itertools.product(*[range(v) for v in sp]):
            v = x[(n, c) + pos]
            for tap in itertools.product(*[range(kk) for kk in ks]):
                where = tuple(pos[i] * st[i] - pads[i] + tap[i] * dl[i] for i in range(r))
                if all(0 <= where[i] < out[i] for i in range(r)):
                    y[(n, slice(gi * Kg, (gi + 1) * Kg)) + where] += v * w[(c, slice(None)) + tap]
    if b is not None:
        y += np.asarray(b, np.float64).reshape((1, -1) + (1,) * r)
    return [_act(y, attrs)]


def matmul(attrs, inputs):
    """Broadcast batch dims by hand, then a triple loop's worth of dot products in float64."""
    a, b = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    if squeeze_a:
        a = a[None, :]
    if squeeze_b:
        b = b[:, None]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    M, N = a.shape[-2], b.shape[-1]
    ab = np.broadcast_to(a, batch + a.shape[-2:])
    bb = np.broadcast_to(b, batch + b.shape[-2:])
    y = np.zeros(batch + (M, N))
    for idx in np.ndindex(*batch):
        for m in range(M):
            for n in range(N):
                y[idx + (m, n)] = float(np.dot(ab[idx][m, :], bb[idx][:, n]))
    if squeeze_a:
        y = y[..., 0, :]
    if squeeze_b:
        y = y[..., 0]
    return [_act(y, attrs)]


def gemm(attrs, inputs):
    a, b = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    c = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    y = matmul({}, [a, b])[0] * alpha
    if c is not None:
        y = y + beta * np.broadcast_to(np.asarray(c, np.float64), y.shape)
    return [_act(y, attrs)]


REFERENCES = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "MatMul": matmul,
    "Gemm": gemm,
}
