"""Training losses some exported graphs keep: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12/13),
with reduction none/sum/mean, ignore_index, per-class weights and SoftmaxCrossEntropyLoss's optional log_prob
output. Plain numpy in float64 (they are small, and appear once at the end of a graph); the result is cast to the
scores' dtype.

Both reduce the same way: per element w = weight[label] (1 without weights), 0 where label == ignore_index;
loss = -w * log_prob[n, label, d...]; "mean" divides the sum by sum(w) (so ignored elements count neither in
the numerator nor in the denominator), "sum" sums, "none" keeps the labels' shape."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, ShapeError
from .registry import OpDef, register_op

_REDUCTIONS = ("none", "sum", "mean")
_FLOATS = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)}


def _reduction(node) -> str:
    r = node.attrs.get("reduction", "mean")
    r = r.decode() if isinstance(r, bytes) else r
    if r not in _REDUCTIONS:
        raise ShapeError(f"{node.op}: reduction={r!r} is not one of {_REDUCTIONS}")
    return r


def _infer(node, shapes, dtypes, consts):
    scores, labels = tuple(shapes[0]), tuple(shapes[1])
    if len(scores) < 2 or labels != scores[:1] + scores[2:]:
        raise ShapeError(f"{node.op}: input {scores} and target {labels} must be (N, C, d...) and (N, d...)")
    if np.dtype(dtypes[1]) not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ShapeError(f"{node.op}: target must be int32 or int64, got {np.dtype(dtypes[1])}")
    if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (scores[1],):
        raise ShapeError(f"{node.op}: weight shape {tuple(shapes[2])} != ({scores[1]},)")
    out = labels if _reduction(node) == "none" else ()
    results = [(out, dtypes[0])]
    if len(node.outputs) > 1 and node.outputs[1]:
        results.append((scores, dtypes[0]))
    return results


def nll(node, log_prob, labels, weight):
    """Weighted negative log-likelihood of float64 log-probabilities [N, C, d...] at integer labels [N, d...]."""
    c = log_prob.shape[1]
    labels = np.asarray(labels).astype(np.int64)
    ignore = node.attrs.get("ignore_index")
    keep = np.ones(labels.shape, bool) if ignore is None else labels != int(ignore)
    bad = keep & ((labels < 0) | (labels >= c))
    if bad.any():
        raise InputError(f"{node.op}: target value {int(labels[bad][0])} is outside [0, {c}) and is not "
                         f"ignore_index={ignore}")
    safe = np.where(keep, labels, 0)
    picked = np.take_along_axis(log_prob, safe[:, None], axis=1)[:, 0]
    w = np.ones(labels.shape) if weight is None else np.asarray(weight, np.float64)[safe]
    w = np.where(keep, w, 0.0)
    loss = -picked * w
    reduction = _reduction(node)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / w.sum()
    return loss


def _ref_nll(node, x):
    scores = np.asarray(x[0])
    weight = x[2] if len(x) > 2 else None
    return [np.asarray(nll(node, scores.astype(np.float64), x[1], weight)).astype(scores.dtype)]


def log_softmax_axis1(scores):
    s = np.asarray(scores, np.float64)
    shifted = s - s.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _ref_sce(node, x):
    scores = np.asarray(x[0])
    weight = x[2] if len(x) > 2 else None
    log_prob = log_softmax_axis1(scores)
    out = [np.asarray(nll(node, log_prob, x[1], weight)).astype(scores.dtype)]
    if len(node.outputs) > 1 and node.outputs[1]:
        out.append(log_prob.astype(scores.dtype))
    return out


register_op(OpDef("NegativeLogLikelihoodLoss", _infer, _ref_nll))
register_op(OpDef("SoftmaxCrossEntropyLoss", _infer, _ref_sce))
