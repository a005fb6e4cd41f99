import numpy as np

from tests.harness import Case, rng

R = rng(21)
SCORES = R.standard_normal((3, 5, 2, 4)).astype(np.float32)
LABELS = R.integers(0, 5, (3, 2, 4)).astype(np.int64)
LABELS_II = np.where(R.random((3, 2, 4)) < 0.3, -1, LABELS)  # ~30% ignored, ignore_index = -1 (out of [0, C))
W = np.array([0.2, 1.0, 0.5, 2.0, 0.7], np.float32)
SCORES_2D = R.standard_normal((6, 4)).astype(np.float32)
LABELS_2D = np.array([0, 3, 1, 1, 2, 3], np.int32)

CASES = [
    Case("NegativeLogLikelihoodLoss", [SCORES, LABELS], {}, id="mean-default"),
    Case("NegativeLogLikelihoodLoss", [SCORES, LABELS, W], {"reduction": "sum"}, const_inputs=(2,), id="sum-weight"),
    Case("NegativeLogLikelihoodLoss", [SCORES, LABELS_II, W], {"ignore_index": -1}, const_inputs=(2,),
         id="mean-weight-ignore"),
    Case("NegativeLogLikelihoodLoss", [SCORES_2D, LABELS_2D], {"reduction": "none", "ignore_index": 3},
         id="none-2d-int32"),
    Case("SoftmaxCrossEntropyLoss", [SCORES, LABELS_II], {"ignore_index": -1}, id="mean-ignore-log-prob",
         n_outputs=2),
    Case("SoftmaxCrossEntropyLoss", [SCORES_2D * 30, LABELS_2D, W[:4]], {"reduction": "none"}, const_inputs=(2,),
         id="none-weight-large-scores", n_outputs=2),
    Case("SoftmaxCrossEntropyLoss", [SCORES, LABELS, W], {"reduction": "sum"}, const_inputs=(2,), id="sum-weight"),
]
