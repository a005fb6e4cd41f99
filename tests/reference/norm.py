"""Normalisation references, straight from the ONNX formulas in float64."""

import numpy as np


def _bn(attrs, x):
    v, scale, bias, mean, var = (np.asarray(t, np.float64) for t in x[:5])
    eps = attrs.get("epsilon", 1e-5)
    out = np.empty_like(v)
    for c in range(v.shape[1]):
        out[:, c] = (v[:, c] - mean[c]) / np.sqrt(var[c] + eps) * scale[c] + bias[c]
    return [out]


def _ln(attrs, x):
    v = np.asarray(x[0], np.float64)
    axis = attrs.get("axis", -1) % v.ndim
    eps = attrs.get("epsilon", 1e-5)
    rows = v.reshape(int(np.prod(v.shape[:axis])), -1)
    cols = rows.shape[1]

    def per_col(t):  # [C], [1, 1, C], [H, W] ... -> one value per normalised element
        t = np.asarray(t, np.float64)
        return np.broadcast_to(t.reshape(t.shape[-len(v.shape[axis:]):]) if t.ndim > v.ndim - axis else t,
                               v.shape[axis:]).reshape(cols)

    scale = per_col(x[1])
    bias = np.zeros(cols) if len(x) < 3 or x[2] is None else per_col(x[2])
    out = np.empty_like(rows)
    means, inv_stds = np.empty(rows.shape[0]), np.empty(rows.shape[0])
    for r in range(rows.shape[0]):
        m = rows[r].sum() / rows.shape[1]
        var = ((rows[r] - m) ** 2).sum() / rows.shape[1]
        means[r], inv_stds[r] = m, 1 / np.sqrt(var + eps)
        out[r] = (rows[r] - m) * inv_stds[r] * scale + bias
    stat_shape = v.shape[:axis] + (1,) * (v.ndim - axis)  # the optional Mean and InvStdDev outputs
    return [out.reshape(v.shape), means.reshape(stat_shape), inv_stds.reshape(stat_shape)]


def _in(attrs, x):
    v = np.asarray(x[0], np.float64)
    out = np.empty_like(v)
    for n in range(v.shape[0]):
        for c in range(v.shape[1]):
            plane = v[n, c]
            m = plane.sum() / plane.size
            var = ((plane - m) ** 2).sum() / plane.size
            out[n, c] = (plane - m) / np.sqrt(var + attrs.get("epsilon", 1e-5)) * float(x[1][c]) + float(x[2][c])
    return [out]


REFERENCES = {"BatchNormalization": _bn, "LayerNormalization": _ln, "InstanceNormalization": _in}
