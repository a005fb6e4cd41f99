import numpy as np

from tests.harness import Case, rng

R = rng(31)
I8 = R.integers(-128, 128, (3, 4), dtype=np.int8)
SHIFT8 = R.integers(-2, 10, (3, 4), dtype=np.int8)  # includes negative and >= width amounts
U32 = R.integers(0, 2 ** 32, (2, 3, 4), dtype=np.uint32)
I64 = R.integers(-2 ** 62, 2 ** 62, (2, 3, 4), dtype=np.int64)

CASES = [
    Case("BitShift", [I8, SHIFT8], {"direction": "LEFT"}, id="i8-left-wrap-out-of-range"),
    Case("BitShift", [I8, SHIFT8], {"direction": "RIGHT"}, id="i8-right-arithmetic"),
    Case("BitShift", [U32, np.array([0, 1, 31, 32], np.uint32)], {"direction": "LEFT"}, id="u32-left-bcast"),
    Case("BitShift", [U32, np.array([3], np.uint32)], {"direction": "RIGHT"}, id="u32-right"),
    Case("BitShift", [I64, np.array([1, 63, 64, -1], np.int64)], {"direction": "RIGHT"}, id="i64-right"),
    Case("BitwiseAnd", [I64, I64[:1] ^ 0x5555], id="i64-bcast"),
    Case("BitwiseOr", [I8, I8[::-1]], id="i8"),
    Case("BitwiseXor", [U32, U32[0, 0]], id="u32-bcast"),
    Case("BitwiseNot", [I8], id="i8"),
    Case("BitwiseNot", [U32], id="u32"),
]
