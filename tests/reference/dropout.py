"""Dropout at inference, from its definition: y = x, and the mask keeps every element."""

import numpy as np

REFERENCES = {
    "Dropout": lambda attrs, x: [np.array(x[0], copy=True), np.full(np.shape(x[0]), True)],
}
