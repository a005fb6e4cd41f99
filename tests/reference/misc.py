"""References for the standalone ops, from their ONNX definitions, element by element in float64:
AffineGrid's homogeneous transform per output point, MaxUnpool's scatter, TfIdfVectorizer by testing every
pool n-gram against every start and skip, BitCast through raw bytes, TensorScatter's pseudocode,
SwiGLU, LinearAttention's recurrence per (batch, head, token) with explicit matrices, a tap-by-tap causal
convolution, and FlexAttention per query row with its modifier bodies run by onnx.reference."""

import base64
import math

import numpy as np


def _given(x, i):
    return len(x) > i and x[i] is not None


def _s(attrs, key, default):
    v = attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _affine_grid(attrs, x):
    theta = np.asarray(x[0], np.float64)
    size = [int(v) for v in np.asarray(x[1]).reshape(-1)]
    spatial = size[2:]
    align = attrs.get("align_corners", 0)

    def pos(i, n):
        if align:
            return -1.0 if n == 1 else -1.0 + 2.0 * i / (n - 1)
        return -1.0 + (2.0 * i + 1.0) / n

    out = np.zeros([size[0], *spatial, len(spatial)])
    for n in range(size[0]):
        for idx in np.ndindex(*spatial):
            # homogeneous point: x along the last spatial axis, then y, then z
            p = [pos(i, dim) for i, dim in zip(reversed(idx), reversed(spatial))] + [1.0]
            for r in range(len(spatial)):
                out[(n, *idx, r)] = sum(theta[n, r, c] * p[c] for c in range(len(p)))
    return [out]


def _max_unpool(attrs, x):
    data, idx = np.asarray(x[0], np.float64), np.asarray(x[1])
    r = data.ndim - 2
    kernel = attrs["kernel_shape"]
    strides = attrs.get("strides") or [1] * r
    pads = attrs.get("pads") or [0] * (2 * r)
    unpooled = list(data.shape[:2]) + [(data.shape[2 + i] - 1) * strides[i] - pads[i] - pads[r + i] + kernel[i]
                                       for i in range(r)]
    out_shape = [int(v) for v in np.asarray(x[2]).reshape(-1)] if _given(x, 2) else unpooled
    out = np.zeros(out_shape)
    for pos in np.ndindex(*data.shape):
        flat = int(idx[pos])
        where = np.unravel_index(flat, unpooled)  # indices address the unpooled tensor
        out[where] = data[pos]
    return [out]


def _tfidf(attrs, x):
    pool, starts, columns = attrs["pool_int64s"], attrs["ngram_counts"], attrs["ngram_indexes"]
    lo, hi, skip = attrs["min_gram_length"], attrs["max_gram_length"], attrs["max_skip_count"]
    grams = []  # (tuple, column) for every pool n-gram, sizes outside [lo, hi] included
    k = 0
    for i, start in enumerate(starts):
        n = i + 1
        end = starts[i + 1] if i + 1 < len(starts) else len(pool)
        for j in range(start, end, n):
            if j + n <= end:
                grams.append((tuple(pool[j:j + n]), columns[k]))
                k += 1
    size = max(columns) + 1
    data = np.asarray(x[0])
    rows = [data.reshape(-1).tolist()] if data.ndim < 2 else data.tolist()
    out = np.zeros((len(rows), size))
    for r, row in enumerate(rows):
        for gram, col in grams:
            n = len(gram)
            if not lo <= n <= hi:
                continue
            skips = [1] if n == 1 else range(1, skip + 2)  # a 1-gram has no gaps to skip
            hits = sum(1 for d in skips for s in range(len(row))
                       if s + (n - 1) * d < len(row) and all(row[s + m * d] == gram[m] for m in range(n)))
            out[r, col] = hits
    w = attrs.get("weights") or [1.0] * size
    mode = _s(attrs, "mode", "TF")
    for r in range(len(rows)):
        for c in range(size):
            if mode == "IDF":
                out[r, c] = w[c] if out[r, c] > 0 else 0.0
            elif mode == "TFIDF":
                out[r, c] *= w[c]
    return [out if data.ndim == 2 else out[0]]


def _bitcast(attrs, x):
    from onnx.helper import tensor_dtype_to_np_dtype

    a = np.asarray(x[0])
    target = np.dtype(tensor_dtype_to_np_dtype(attrs["to"]))
    return [np.frombuffer(a.tobytes(), dtype=target).reshape(a.shape)]


def _tensor_scatter(attrs, x):
    past, update = np.asarray(x[0]), np.asarray(x[1])
    axis = attrs.get("axis", -2) % past.ndim
    circular = _s(attrs, "mode", "linear") == "circular"
    write = np.asarray(x[2]).reshape(-1) if _given(x, 2) else np.zeros(past.shape[0], np.int64)
    out = past.copy()
    for prefix in np.ndindex(*past.shape[:axis]):
        for t in range(update.shape[axis]):
            pos = int(write[prefix[0]]) + t
            if circular:
                pos %= past.shape[axis]
            out[(*prefix, pos)] = update[(*prefix, t)]
    return [out]


def _swiglu(attrs, x):
    a, b = np.asarray(x[0], np.float64), np.asarray(x[1], np.float64)
    alpha = attrs.get("alpha", 1.0)
    out = np.zeros(a.shape)
    for i in np.ndindex(*a.shape):
        out[i] = a[i] * _sigmoid(alpha * a[i]) * b[i]
    return [out]


def _linear_attention(attrs, x):
    rule = _s(attrs, "update_rule", "gated_delta")
    hq, hkv = attrs["q_num_heads"], attrs["kv_num_heads"]
    q, k, v = (np.asarray(a, np.float64) for a in x[:3])
    batch, steps = q.shape[:2]
    dk, dv = q.shape[2] // hq, v.shape[2] // hkv
    scale = attrs.get("scale", 0.0) or 1.0 / math.sqrt(dk)
    decay = np.asarray(x[4], np.float64) if _given(x, 4) else None
    beta = np.asarray(x[5], np.float64) if _given(x, 5) else None
    y = np.zeros((batch, steps, hq * dv))
    present = np.zeros((batch, hkv, dk, dv))
    for b in range(batch):
        for h in range(hkv):
            s = np.array(x[3][b, h], np.float64) if _given(x, 3) else np.zeros((dk, dv))
            for t in range(steps):
                kt = k[b, t, h * dk:(h + 1) * dk]
                vt = v[b, t, h * dv:(h + 1) * dv]
                if decay is not None:
                    g = decay[b, t, h] if decay.shape[2] == hkv and dk > 1 else decay[b, t, h * dk:(h + 1) * dk]
                    s = np.diag(np.exp(np.broadcast_to(g, (dk,)))) @ s
                if beta is not None:
                    bt = beta[b, t, h if beta.shape[2] == hkv else 0]
                    vt = bt * (vt - s.T @ kt)
                s = s + np.outer(kt, vt)
                for g_ in range(hq // hkv):  # the query heads sharing this KV head
                    qh = h * (hq // hkv) + g_
                    y[b, t, qh * dv:(qh + 1) * dv] = scale * (q[b, t, qh * dk:(qh + 1) * dk] @ s)
            present[b, h] = s
    assert rule in ("linear", "gated", "delta", "gated_delta")
    return [y, present]


def _causal_conv(attrs, x):
    data, w = np.asarray(x[0], np.float64), np.asarray(x[1], np.float64)
    batch, channels, length = data.shape
    k = w.shape[2]
    past = np.asarray(x[3], np.float64) if _given(x, 3) else np.zeros((batch, channels, k - 1))
    act = _s(attrs, "activation", "none")
    out = np.zeros(data.shape)
    state = np.zeros((batch, channels, k - 1))
    for b in range(batch):
        for c in range(channels):
            seq = list(past[b, c]) + list(data[b, c])
            for t in range(length):
                acc = sum(w[c, 0, j] * seq[t + j] for j in range(k))
                if _given(x, 2):
                    acc += float(x[2][c])
                out[b, c, t] = acc * _sigmoid(acc) if act in ("silu", "swish") else acc
            state[b, c] = seq[len(seq) - (k - 1):] if k > 1 else []
    return [out, state]


def _run_body(graph_attr, value, outer):
    """A modifier body through onnx.reference, its enclosing-scope names fed as extra graph inputs."""
    import onnx
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    if isinstance(graph_attr, str):
        g = onnx.GraphProto()
        g.ParseFromString(base64.b64decode(graph_attr))
    else:
        g = onnx.GraphProto()
        g.CopyFrom(getattr(graph_attr, "proto", graph_attr))
    for name, v in outer.items():
        g.input.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    return np.asarray(ReferenceEvaluator(model).run(None, {g.input[0].name: value, **outer})[0])


def _flex_attention(attrs, x):
    q, k, v = (np.asarray(a, np.float64) for a in x[:3])
    outer = dict(zip(attrs.get("outer_inputs", []), (np.asarray(a) for a in x[3:])))
    batch, hq, lq, e = q.shape
    hkv, s = k.shape[1], k.shape[2]
    scale = attrs.get("scale")
    scale = 1.0 / math.sqrt(e) if scale is None else scale
    scores = np.zeros((batch, hq, lq, s))
    for b, h, i, j in np.ndindex(batch, hq, lq, s):
        scores[b, h, i, j] = scale * float(q[b, h, i] @ k[b, h // (hq // hkv), j])
    if attrs.get("score_mod") is not None:
        scores = _run_body(attrs["score_mod"], scores.astype(np.float32), outer).astype(np.float64)
    probs = np.zeros(scores.shape)
    for b, h, i in np.ndindex(batch, hq, lq):
        row = [math.exp(sc - max(scores[b, h, i])) for sc in scores[b, h, i]]
        probs[b, h, i] = [r / sum(row) for r in row]
    if attrs.get("prob_mod") is not None:
        probs = _run_body(attrs["prob_mod"], probs.astype(np.float32), outer).astype(np.float64)
    y = np.zeros((batch, hq, lq, v.shape[3]))
    for b, h, i in np.ndindex(batch, hq, lq):
        y[b, h, i] = probs[b, h, i] @ v[b, h // (hq // hkv)]
    return [y]


REFERENCES = {
    "AffineGrid": _affine_grid,
    "MaxUnpool": _max_unpool,
    "TfIdfVectorizer": _tfidf,
    "BitCast": _bitcast,
    "TensorScatter": _tensor_scatter,
    "SwiGLU": _swiglu,
    "LinearAttention": _linear_attention,
    "CausalConvWithState": _causal_conv,
    "ai.onnx.preview::FlexAttention": _flex_attention,
}
