"""Independent float64 references for the conv/GEMM family: explicit per-output-pixel loops with
bounds checks (no padding, no im2col, no einsum) -- deliberately different code from the OpDef
references and the kernels."""

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


def conv(attrs, inputs):
    x, w = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    b = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    r, ks, st, dl, pads = _spatial(attrs, x, w)
    if r == 1:  # 1-D: same loops on a height-1 image
        x, w = x[:, :, None, :], w[:, :, None, :]
        ks, st, dl, pads = [1] + ks, [1] + st, [1] + dl, [0, pads[0], 0, pads[1]]
    g = int(attrs.get("group", 1))
    N, C, H, W = x.shape
    K, Cg = w.shape[:2]
    Kg = K // g
    OH = (H + pads[0] + pads[2] - (ks[0] - 1) * dl[0] - 1) // st[0] + 1
    OW = (W + pads[1] + pads[3] - (ks[1] - 1) * dl[1] - 1) // st[1] + 1
    y = np.zeros((N, K, OH, OW))
    for n in range(N):
        for k in range(K):
            gi = k // Kg
            xs = x[n, gi * Cg:(gi + 1) * Cg]
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0 if b is None else float(b[k])
                    for i in range(ks[0]):
                        ih = oh * st[0] - pads[0] + i * dl[0]
                        if not 0 <= ih < H:
                            continue
                        for j in range(ks[1]):
                            iw = ow * st[1] - pads[1] + j * dl[1]
                            if 0 <= iw < W:
                                acc += float(np.dot(xs[:, ih, iw], w[k, :, i, j]))
                    y[n, k, oh, ow] = acc
    y = _act(y, attrs)
    return [y[:, :, 0, :] if r == 1 else y]


def conv_transpose(attrs, inputs):
    """y[n, k, ih*s - pad + i*d, ...] += x[n, c, ih, iw] * w[c, k', i, j]: scatter form, bounds-checked."""
    x, w = np.asarray(inputs[0], np.float64), np.asarray(inputs[1], np.float64)
    b = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    r, ks, st, dl, pads = _spatial(attrs, x, w)
    g = int(attrs.get("group", 1))
    op = list(attrs.get("output_padding") or [0] * r)
    N, C, H, W = x.shape
    Cg, Kg = C // g, w.shape[1]
    K = Kg * g
    OH = (H - 1) * st[0] - pads[0] - pads[2] + (ks[0] - 1) * dl[0] + 1 + op[0]
    OW = (W - 1) * st[1] - pads[1] - pads[3] + (ks[1] - 1) * dl[1] + 1 + op[1]
    if attrs.get("output_shape"):  # ONNX: pads generated from output_shape (NOTSET puts the odd one first)
        OH, OW = attrs["output_shape"][-2:]
        tot = [st[0] * (H - 1) + op[0] + (ks[0] - 1) * dl[0] + 1 - OH,
               st[1] * (W - 1) + op[1] + (ks[1] - 1) * dl[1] + 1 - OW]
        pads = [tot[0] - tot[0] // 2, tot[1] - tot[1] // 2, tot[0] // 2, tot[1] // 2]
    y = np.zeros((N, K, OH, OW))
    for n in range(N):
        for c in range(C):
            gi = c // Cg
            for ih in range(H):
                for iw in range(W):
                    v = x[n, c, ih, iw]
                    for i in range(ks[0]):
                        oh = ih * st[0] - pads[0] + i * dl[0]
                        if not 0 <= oh < OH:
                            continue
                        for j in range(ks[1]):
                            ow = iw * st[1] - pads[1] + j * dl[1]
                            if 0 <= ow < OW:
                                y[n, gi * Kg:(gi + 1) * Kg, oh, ow] += v * w[c, :, i, j]
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
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
