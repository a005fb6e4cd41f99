"""Loss references: one sample at a time in Python floats; log-softmax via math.log(sum(exp(s - max)))."""

import math

import numpy as np


def _loss(attrs, log_prob_at, scores_shape, labels, weight):
    labels = np.asarray(labels)
    ignore = attrs.get("ignore_index")
    losses = np.zeros(labels.shape)
    total_w = 0.0
    for idx in np.ndindex(*labels.shape):
        c = int(labels[idx])
        if ignore is not None and c == ignore:
            continue
        w = 1.0 if weight is None else float(weight[c])
        losses[idx] = -log_prob_at(idx, c) * w
        total_w += w
    reduction = attrs.get("reduction", "mean")
    if reduction == "none":
        return losses
    if reduction == "sum":
        return np.array(losses.sum())
    return np.array(losses.sum() / total_w)


def _split(idx):
    return idx[0], idx[1:]


def nll_loss(attrs, x):
    scores = np.asarray(x[0], np.float64)
    weight = x[2] if len(x) > 2 else None

    def at(idx, c):
        n, rest = _split(idx)
        return scores[(n, c) + rest]
    return [_loss(attrs, at, scores.shape, x[1], weight)]


def softmax_cross_entropy_loss(attrs, x):
    scores = np.asarray(x[0], np.float64)
    weight = x[2] if len(x) > 2 else None
    log_prob = np.zeros(scores.shape)
    for n in range(scores.shape[0]):
        for rest in np.ndindex(*scores.shape[2:]):
            row = [scores[(n, c) + rest] for c in range(scores.shape[1])]
            m = max(row)
            lse = m + math.log(sum(math.exp(v - m) for v in row))
            for c, v in enumerate(row):
                log_prob[(n, c) + rest] = v - lse

    def at(idx, c):
        n, rest = _split(idx)
        return log_prob[(n, c) + rest]
    return [_loss(attrs, at, scores.shape, x[1], weight), log_prob]


REFERENCES = {"NegativeLogLikelihoodLoss": nll_loss, "SoftmaxCrossEntropyLoss": softmax_cross_entropy_loss}
