"""Integer bit operations: BitShift (LEFT/RIGHT, unsigned and, since opset 26, signed types), BitwiseAnd / Or /
Xor (numpy broadcasting) and BitwiseNot. Plain numpy: these appear in index and hashing arithmetic on small
tensors, not in the hot path.

BitShift's edge cases follow ONNX: a right shift of a signed type is arithmetic; a left shift discards the bits
pushed past the sign bit (two's-complement wraparound, done on the unsigned view so numpy's own overflow rules
never apply); a shift amount that is negative or >= the type's width gives 0, or -1 for a right shift of a
negative value."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .elementwise import broadcast_shape
from .registry import OpDef, register_op

_INTS = {np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64)}


def _check_ints(node, dtypes, allow_bool=False):
    for d in dtypes:
        d = np.dtype(d)
        if d not in _INTS and not (allow_bool and d == np.bool_):
            raise ShapeError(f"{node.op}: integer inputs required, got {d}")
    if len({np.dtype(d) for d in dtypes}) > 1:
        raise ShapeError(f"{node.op}: inputs must share one dtype, got {[str(np.dtype(d)) for d in dtypes]}")


def _direction(node) -> str:
    d = node.attrs.get("direction")
    d = d.decode() if isinstance(d, bytes) else d
    if d not in ("LEFT", "RIGHT"):
        raise ShapeError(f"{node.op}: direction={d!r} must be 'LEFT' or 'RIGHT'")
    return d


def _infer_shift(node, shapes, dtypes, consts):
    _direction(node)
    _check_ints(node, dtypes[:2])
    return [(broadcast_shape([tuple(shapes[0]), tuple(shapes[1])]), dtypes[0])]


def bit_shift(x, y, left: bool):
    x, y = np.broadcast_arrays(np.asarray(x), np.asarray(y))
    bits = x.dtype.itemsize * 8
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    amount = y.astype(np.int64)
    in_range = (amount >= 0) & (amount < bits)
    amount = np.where(in_range, amount, 0).astype(unsigned)
    if left:
        shifted = np.left_shift(x.astype(unsigned, copy=False), amount).view(x.dtype)
        return np.where(in_range, shifted, 0).astype(x.dtype)
    shifted = np.right_shift(x, amount.astype(x.dtype))  # arithmetic for signed types, logical otherwise
    fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
    return np.where(in_range, shifted, fill).astype(x.dtype)


register_op(OpDef("BitShift", _infer_shift,
                  lambda node, x: [bit_shift(x[0], x[1], _direction(node) == "LEFT")]))


def _infer_bitwise(node, shapes, dtypes, consts):
    _check_ints(node, dtypes[:2], allow_bool=True)
    return [(broadcast_shape([tuple(shapes[0]), tuple(shapes[1])]), dtypes[0])]


_BINARY = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}
for _op, _fn in _BINARY.items():
    register_op(OpDef(_op, _infer_bitwise,
                      lambda node, x, fn=_fn: [fn(np.asarray(x[0]), np.asarray(x[1])).astype(np.asarray(x[0]).dtype)]))


def _infer_not(node, shapes, dtypes, consts):
    _check_ints(node, dtypes[:1], allow_bool=True)
    return [(tuple(shapes[0]), dtypes[0])]


register_op(OpDef("BitwiseNot", _infer_not, lambda node, x: [np.invert(np.asarray(x[0]))]))
