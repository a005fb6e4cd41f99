import numpy as np

from tests.harness import Case, rng

CASES = [
    Case("Relu", [rng(1).standard_normal((2, 13, 7, 9)).astype(np.float32)], id="odd"),
    Case("Relu", [rng(2).standard_normal((1, 1, 1, 1)).astype(np.float32)], id="scalar-like"),
]
