"""Matrix-structure references: explicit loops in float64 (Gaussian elimination for Det, brute-force
summation over every label assignment for Einsum)."""

import itertools

import numpy as np


def _trilu(attrs, x):
    a = np.asarray(x[0])
    k = int(np.asarray(x[1]).reshape(-1)[0]) if len(x) > 1 and x[1] is not None else 0
    upper = attrs.get("upper", 1)
    out = np.zeros(a.shape, np.float64)
    for pos in np.ndindex(*a.shape):
        i, j = pos[-2], pos[-1]
        if (j - i >= k) if upper else (j - i <= k):
            out[pos] = a[pos]
    return [out]


def _eyelike(attrs, x):
    r, c = np.shape(x[0])
    k = attrs.get("k", 0)
    out = np.zeros((r, c))
    for i in range(r):
        if 0 <= i + k < c:
            out[i, i + k] = 1
    return [out]


def _einsum(attrs, x):
    eq = attrs["equation"].replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if "->" not in eq:  # implicit output: the labels used exactly once, alphabetically
        rhs = "".join(sorted(c for c in set(lhs) - {","} if lhs.count(c) == 1))
    arrays = [np.asarray(a, np.float64) for a in x]
    assert "..." not in eq, "this reference takes explicit labels only"
    size = {}
    for t, a in zip(terms, arrays):
        for c, d in zip(t, a.shape):
            size[c] = d
    labels = sorted(size)
    out = np.zeros(tuple(size[c] for c in rhs))
    for values in itertools.product(*[range(size[c]) for c in labels]):
        v = dict(zip(labels, values))
        prod = 1.0
        for t, a in zip(terms, arrays):
            prod *= a[tuple(v[c] for c in t)]
        out[tuple(v[c] for c in rhs)] += prod
    return [out]


def _det2(m):
    m = [list(map(float, row)) for row in m]
    n = len(m)
    det = 1.0
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if m[piv][col] == 0:
            return 0.0
        if piv != col:
            m[col], m[piv] = m[piv], m[col]
            det = -det
        det *= m[col][col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            for c in range(col, n):
                m[r][c] -= f * m[col][c]
    return det


def _det(attrs, x):
    a = np.asarray(x[0], np.float64)
    out = np.zeros(a.shape[:-2])
    for pos in np.ndindex(*a.shape[:-2]):
        out[pos] = _det2(a[pos])
    return [out]


def _cumprod(attrs, x):
    a = np.asarray(x[0], np.float64)
    axis = int(np.asarray(x[1]).reshape(-1)[0]) % a.ndim
    moved = np.moveaxis(a, axis, -1)
    out = np.empty_like(moved)
    for pos in np.ndindex(*moved.shape[:-1]):
        row = moved[pos].tolist()
        order = range(len(row) - 1, -1, -1) if attrs.get("reverse", 0) else range(len(row))
        acc = 1.0
        for i in order:
            if attrs.get("exclusive", 0):
                out[pos + (i,)] = acc
                acc *= row[i]
            else:
                acc *= row[i]
                out[pos + (i,)] = acc
    return [np.moveaxis(out, -1, axis)]


def _col2im(attrs, x):
    a = np.asarray(x[0], np.float64)
    image = [int(v) for v in np.asarray(x[1]).reshape(-1)]
    block = [int(v) for v in np.asarray(x[2]).reshape(-1)]
    nd = len(image)
    dil = attrs.get("dilations", [1] * nd)
    pads = attrs.get("pads", [0] * 2 * nd)
    strides = attrs.get("strides", [1] * nd)
    counts = [(image[i] + pads[i] + pads[nd + i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(nd)]
    n, c = a.shape[0], a.shape[1] // int(np.prod(block))
    out = np.zeros((n, c, *image))
    for b in range(n):
        for ch in range(c):
            for ki, kk in enumerate(np.ndindex(*block)):
                row = ch * int(np.prod(block)) + ki
                for li, ll in enumerate(np.ndindex(*counts)):
                    pos = [ll[i] * strides[i] + kk[i] * dil[i] - pads[i] for i in range(nd)]
                    if all(0 <= p < s for p, s in zip(pos, image)):
                        out[(b, ch, *pos)] += a[b, row, li]
    return [out]


REFERENCES = {
    "Trilu": _trilu,
    "EyeLike": _eyelike,
    "Einsum": _einsum,
    "Det": _det,
    "CumProd": _cumprod,
    "Col2Im": _col2im,
}
