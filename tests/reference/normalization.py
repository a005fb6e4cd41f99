"""References for RMSNormalization, GroupNormalization, LpNormalization, MeanVarianceNormalization and LRN:
loops over the slices each formula names, in float64, from the ONNX operator docs."""

import math

import numpy as np


def _rms(attrs, x):
    v = np.asarray(x[0], np.float64)
    axis = attrs.get("axis", -1) % v.ndim
    eps = attrs.get("epsilon", 1e-5)
    tail = v.shape[axis:]
    scale = np.broadcast_to(np.asarray(x[1], np.float64), tail).reshape(-1)
    rows = v.reshape(-1, int(np.prod(tail)))
    out = np.empty_like(rows)
    for r in range(rows.shape[0]):
        mean_sq = sum(a * a for a in rows[r]) / rows.shape[1]
        out[r] = rows[r] / math.sqrt(mean_sq + eps) * scale
    return [out.reshape(v.shape)]


def _group(attrs, x):
    v = np.asarray(x[0], np.float64)
    scale, bias = np.asarray(x[1], np.float64), np.asarray(x[2], np.float64)
    G, C = attrs["num_groups"], v.shape[1]
    cg = C // G
    eps = attrs.get("epsilon", 1e-5)
    out = np.empty_like(v)
    for n in range(v.shape[0]):
        for g in range(G):
            block = v[n, g * cg:(g + 1) * cg]
            m = block.sum() / block.size
            var = ((block - m) ** 2).sum() / block.size
            for c in range(g * cg, (g + 1) * cg):
                k = c if scale.size == C else g   # opset 21: per channel; opset 18: per group
                out[n, c] = (v[n, c] - m) / math.sqrt(var + eps) * scale[k] + bias[k]
    return [out]


def _lp(attrs, x):
    v = np.asarray(x[0], np.float64)
    p = attrs.get("p", 2)
    moved = np.moveaxis(v, attrs.get("axis", -1), -1)
    out = np.zeros_like(moved)
    for idx in np.ndindex(moved.shape[:-1]):
        vec = moved[idx]
        norm = sum(abs(a) for a in vec) if p == 1 else math.sqrt(sum(a * a for a in vec))
        if norm != 0:
            out[idx] = vec / norm
    return [np.moveaxis(out, -1, attrs.get("axis", -1))]


def _mvn(attrs, x):
    v = np.asarray(x[0], np.float64)
    axes = sorted(a % v.ndim for a in attrs.get("axes", (0, 2, 3)))
    keep = [d for d in range(v.ndim) if d not in axes]
    moved = np.transpose(v, keep + axes)
    flat = moved.reshape(int(np.prod([v.shape[d] for d in keep])), -1)
    out = np.empty_like(flat)
    for r in range(flat.shape[0]):
        m = flat[r].sum() / flat.shape[1]
        std = math.sqrt(((flat[r] - m) ** 2).sum() / flat.shape[1])
        out[r] = (flat[r] - m) / (std + 1e-9)
    return [np.transpose(out.reshape(moved.shape), np.argsort(keep + axes))]


def _lrn(attrs, x):
    v = np.asarray(x[0], np.float64)
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    C = v.shape[1]
    out = np.empty_like(v)
    for c in range(C):
        lo = max(0, c - math.floor((size - 1) / 2))
        hi = min(C - 1, c + math.ceil((size - 1) / 2))
        square_sum = sum(v[:, i] ** 2 for i in range(lo, hi + 1))
        out[:, c] = v[:, c] / (bias + alpha / size * square_sum) ** beta
    return [out]


REFERENCES = {"RMSNormalization": _rms, "GroupNormalization": _group, "LpNormalization": _lp,
              "MeanVarianceNormalization": _mvn, "LRN": _lrn}
