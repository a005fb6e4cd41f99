import numpy as np

from tests.harness import Case, rng

X = rng(31).standard_normal((2, 3, 5)).astype(np.float32)

CASES = [
    Case("Dropout", [X], n_outputs=2, id="mask"),
    Case("Dropout", [X, np.array(0.3, np.float32), np.array(False)], n_outputs=2, id="ratio-not-training"),
    # Training with ratio 0 drops nothing: deterministic, so it is computed.
    Case("Dropout", [X, np.array(0.0, np.float32), np.array(True)], n_outputs=2, id="training-zero-ratio"),
    Case("Dropout", [X.astype(np.float16), None, np.array(False)], id="f16-no-mask"),
]
