import numpy as np

REFERENCES = {
    "Relu": lambda attrs, x: [np.where(x[0] > 0, x[0], 0.0)],
}
