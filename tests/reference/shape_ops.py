"""Layout/shape references: element-by-element index arithmetic (Transpose, Slice, Concat, Split, Gather,
Expand, Pad) written without numpy's transpose/slicing/concatenate, so the op code is checked against
independent index maths. Integer tensors work everywhere (shape arithmetic)."""

import numpy as np



def _reshape(attrs, x):
    a = np.asarray(x[0])
    spec = [int(v) for v in np.asarray(x[1]).reshape(-1)]
    spec = [a.shape[i] if d == 0 and not attrs.get("allowzero", 0) else d for i, d in enumerate(spec)]
    if -1 in spec:
        known = int(np.prod([d for d in spec if d != -1]))
        spec[spec.index(-1)] = a.size // known
    return [np.array(a.ravel().tolist(), a.dtype).reshape(spec)]


def _flatten(attrs, x):
    a = np.asarray(x[0])
    axis = attrs.get("axis", 1)
    axis = axis + a.ndim if axis < 0 else axis  # ONNX: negative counts from the rank
    outer = int(np.prod(a.shape[:axis]))
    return [a.reshape(outer, a.size // outer if outer else 0)]


def _squeeze(attrs, x):
    a = np.asarray(x[0])
    axes = attrs.get("axes") if len(x) < 2 or x[1] is None else np.asarray(x[1]).tolist()
    axes = [i for i, d in enumerate(a.shape) if d == 1] if axes is None else [v % a.ndim for v in axes]
    return [a.reshape([d for i, d in enumerate(a.shape) if i not in axes])]


def _unsqueeze(attrs, x):
    a = np.asarray(x[0])
    axes = attrs.get("axes") if len(x) < 2 or x[1] is None else np.asarray(x[1]).tolist()
    rank = a.ndim + len(axes)
    axes = {v % rank for v in axes}
    it = iter(a.shape)
    return [a.reshape([1 if i in axes else next(it) for i in range(rank)])]


def _transpose(attrs, x):
    a = np.asarray(x[0])
    perm = attrs.get("perm", list(range(a.ndim))[::-1])
    out = np.empty([a.shape[p] for p in perm], a.dtype)
    for idx in np.ndindex(*out.shape):
        src = [0] * a.ndim
        for k, p in enumerate(perm):
            src[p] = idx[k]
        out[idx] = a[tuple(src)]
    return [out]


def _concat(attrs, x):
    arrs = [np.asarray(v) for v in x if v is not None]
    axis = attrs.get("axis", 0) % arrs[0].ndim
    shape = list(arrs[0].shape)
    shape[axis] = sum(v.shape[axis] for v in arrs)
    out = np.empty(shape, arrs[0].dtype)
    off = 0
    for v in arrs:
        for idx in np.ndindex(*v.shape):
            dst = list(idx)
            dst[axis] += off
            out[tuple(dst)] = v[idx]
        off += v.shape[axis]
    return [out]


def _split(attrs, x, n_out):
    a = np.asarray(x[0])
    axis = attrs.get("axis", 0) % a.ndim
    if len(x) > 1 and x[1] is not None:
        sizes = np.asarray(x[1]).tolist()
    elif "split" in attrs:
        sizes = list(attrs["split"])
    else:
        n = attrs.get("num_outputs", n_out)
        size = -(-a.shape[axis] // n)
        sizes = [min(size, a.shape[axis] - i * size) for i in range(n)]
    outs, off = [], 0
    for s in sizes:
        shape = list(a.shape)
        shape[axis] = s
        o = np.empty(shape, a.dtype)
        for idx in np.ndindex(*shape):
            src = list(idx)
            src[axis] += off
            o[idx] = a[tuple(src)]
        outs.append(o)
        off += s
    return outs


def _slice(attrs, x):
    """ONNX Slice from the spec: clamp starts/ends per step sign, then walk the range."""
    a = np.asarray(x[0])
    starts = np.asarray(x[1]).tolist()
    ends = np.asarray(x[2]).tolist()
    axes = np.asarray(x[3]).tolist() if len(x) > 3 and x[3] is not None else list(range(len(starts)))
    steps = np.asarray(x[4]).tolist() if len(x) > 4 and x[4] is not None else [1] * len(starts)
    ranges = [list(range(d)) for d in a.shape]
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax %= a.ndim
        dim = a.shape[ax]
        st = st + dim if st < 0 else st
        en = en + dim if en < 0 else en
        if sp > 0:
            st, en = min(max(st, 0), dim), min(max(en, 0), dim)
            ranges[ax] = list(range(st, en, sp))
        else:
            st, en = min(max(st, 0), dim - 1), min(max(en, -1), dim - 1)
            ranges[ax] = list(range(st, en, sp))
    out = np.empty([len(r) for r in ranges], a.dtype)
    for idx in np.ndindex(*out.shape):
        out[idx] = a[tuple(r[i] for r, i in zip(ranges, idx))]
    return [out]


def _gather(attrs, x):
    a = np.asarray(x[0])
    ind = np.asarray(x[1]).astype(np.int64)
    axis = attrs.get("axis", 0) % a.ndim
    shape = a.shape[:axis] + ind.shape + a.shape[axis + 1:]
    out = np.empty(shape, a.dtype)
    for idx in np.ndindex(*shape):
        i = int(ind[idx[axis:axis + ind.ndim]]) if ind.ndim else int(ind)
        i = i + a.shape[axis] if i < 0 else i
        out[idx] = a[idx[:axis] + (i,) + idx[axis + ind.ndim:]]
    return [out]


def _expand(attrs, x):
    a = np.asarray(x[0])
    spec = [int(v) for v in np.asarray(x[1]).reshape(-1)]
    rank = max(a.ndim, len(spec))
    sa = (1,) * (rank - a.ndim) + a.shape
    sp = [1] * (rank - len(spec)) + spec
    shape = [max(p, q) for p, q in zip(sa, sp)]
    ar = a.reshape(sa)
    out = np.empty(shape, a.dtype)
    for idx in np.ndindex(*shape):
        out[idx] = ar[tuple(0 if d == 1 else i for d, i in zip(sa, idx))]
    return [out]


def _pad(attrs, x):
    a = np.asarray(x[0])
    pads = np.asarray(x[1]).tolist() if len(x) > 1 and x[1] is not None else attrs["pads"]
    value = np.asarray(x[2]).item() if len(x) > 2 and x[2] is not None else 0
    r = a.ndim
    shape = [a.shape[i] + pads[i] + pads[i + r] for i in range(r)]
    mode = attrs.get("mode", "constant")
    out = np.full(shape, value, a.dtype)
    for idx in np.ndindex(*shape):
        src = []
        for i, v in enumerate(idx):
            s = v - pads[i]
            if mode == "edge":
                s = min(max(s, 0), a.shape[i] - 1)
            elif mode == "reflect":
                period = 2 * (a.shape[i] - 1)
                s = abs(s) % period if period else 0
                s = period - s if s >= a.shape[i] else s
            src.append(s)
        if all(0 <= s < d for s, d in zip(src, a.shape)):
            out[idx] = a[tuple(src)]
    return [out]


def _range(attrs, x):
    start, limit, delta = (np.asarray(v).item() for v in x)
    vals, v = [], start
    while (delta > 0 and v < limit) or (delta < 0 and v > limit):
        vals.append(v)
        v += delta
    return [np.array(vals, np.asarray(x[0]).dtype)]


def _tile(attrs, x):
    a = np.asarray(x[0])
    reps = np.asarray(x[1]).tolist()
    out = np.empty([d * r for d, r in zip(a.shape, reps)], a.dtype)
    for idx in np.ndindex(*out.shape):
        out[idx] = a[tuple(i % d for i, d in zip(idx, a.shape))]
    return [out]


def _cos(attrs, x):
    v = attrs.get("value")
    v = np.zeros(1, np.float32) if v is None else np.asarray(v).reshape(-1)
    return [np.full([int(d) for d in np.asarray(x[0]).reshape(-1)], v[0], v.dtype)]


def _d2s(attrs, x):
    a = np.asarray(x[0])
    n, c, h, w = a.shape
    b = attrs["blocksize"]
    oc = c // (b * b)
    out = np.empty((n, oc, h * b, w * b), a.dtype)
    for idx in np.ndindex(*out.shape):
        nn, cc, hh, ww = idx
        bi, bj = hh % b, ww % b
        src_c = (bi * b + bj) * oc + cc if attrs.get("mode", "DCR") == "DCR" else cc * b * b + bi * b + bj
        out[idx] = a[nn, src_c, hh // b, ww // b]
    return [out]


def _s2d(attrs, x):
    a = np.asarray(x[0])
    n, c, h, w = a.shape
    b = attrs["blocksize"]
    out = np.empty((n, c * b * b, h // b, w // b), a.dtype)
    for idx in np.ndindex(*out.shape):
        nn, cc, hh, ww = idx
        if attrs.get("mode", "DCR") == "DCR":  # output channel = (bi * b + bj) * C + c
            blk, src_c = divmod(cc, c)
        else:  # CRD: output channel = c * b * b + bi * b + bj
            src_c, blk = divmod(cc, b * b)
        out[idx] = a[nn, src_c, hh * b + blk // b, ww * b + blk % b]
    return [out]


def _gather_elements(attrs, x):
    a = np.asarray(x[0])
    ind = np.asarray(x[1])
    axis = attrs.get("axis", 0) % a.ndim
    out = np.empty(ind.shape, a.dtype)
    for idx in np.ndindex(*ind.shape):
        src = list(idx)
        i = int(ind[idx])
        src[axis] = i + a.shape[axis] if i < 0 else i
        out[idx] = a[tuple(src)]
    return [out]


def _nonzero(attrs, x):
    a = np.asarray(x[0])
    hits = [idx for idx in np.ndindex(*a.shape) if a[idx]]
    return [np.array(hits, np.int64).T.reshape(a.ndim, len(hits))]


REFERENCES = {
    "DepthToSpace": _d2s,
    "SpaceToDepth": _s2d,
    "GatherElements": _gather_elements,
    "NonZero": _nonzero,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": _transpose,
    "Concat": _concat,
    "Split": lambda attrs, x: _split(attrs, x, attrs.get("num_outputs", 2)),
    "Slice": _slice,
    "Shape": lambda attrs, x: [np.array(np.shape(x[0])[attrs.get("start", 0):attrs.get("end", None)], np.int64)],
    "Size": lambda attrs, x: [np.array(np.size(x[0]), np.int64)],
    "ConstantOfShape": _cos,
    "Range": _range,
    "Gather": _gather,
    "Expand": _expand,
    "Tile": _tile,
    "Pad": _pad,
}
