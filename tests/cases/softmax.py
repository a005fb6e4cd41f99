import numpy as np

from tests.harness import Case, rng

ATT = rng(1).standard_normal((2, 8, 17, 17)).astype(np.float32) * 4   # rec attention, axis 3
LOGITS = rng(2).standard_normal((1, 13, 6625)).astype(np.float32) * 8  # rec head, axis 2

CASES = [
    Case("Softmax", [ATT], {"axis": 3}, id="attention-last"),
    Case("Softmax", [LOGITS], {"axis": -1}, id="rec-head-neg-axis"),
    Case("Softmax", [ATT], {"axis": 1}, id="middle-axis"),
    Case("Softmax", [rng(3).standard_normal((2, 3)).astype(np.float32)], {"axis": 0}, id="axis0"),
    Case("Softmax", [np.array([[1000.0, 1001.0, 999.0]], np.float32)], {}, id="large-logits"),
    Case("LogSoftmax", [ATT], {"axis": -1}, id="last"),
    Case("LogSoftmax", [ATT], {"axis": 2}, id="middle"),
    Case("Hardmax", [ATT], {"axis": 1}, id="middle"),
    Case("Hardmax", [np.array([[2, 5, 5, 1]], np.float32)], {}, id="first-of-ties"),
    # opset < 13: normalised over all dims from the axis on (the converter no longer needs the rank for it)
    Case("Softmax", [ATT], {"axis": 1, "coerce_2d": 1}, id="opset11-coerce-2d"),
    Case("LogSoftmax", [ATT], {"axis": 2, "coerce_2d": 1}, id="opset11-coerce-2d"),
    Case("Hardmax", [ATT], {"axis": 1, "coerce_2d": 1}, id="opset11-coerce-2d"),
]
