"""Elementwise activations over flat float32 buffers (the caller passes contiguous views)."""

import numpy as np

from ._jit import kernel


@kernel
def relu(x, out):
    """out = max(x, 0); x and out are 1-D contiguous float32 of equal length."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > np.float32(0.0) else np.float32(0.0)
