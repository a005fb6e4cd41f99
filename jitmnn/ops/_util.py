"""Small helpers shared by the non-conv op modules (not an op module itself: the leading underscore keeps
ops.load_all from importing it as one)."""

from __future__ import annotations

import numpy as np

from jitmnn import config as jconfig

from ..errors import ShapeError

# Memory-bound kernels: ~0.5-1 ns per element moved on this machine (single thread).
NS_PER_ELEMENT = 1.0
# Parallel (prange) variants of the memory-bound elementwise kernels, costed below serial when Numba's parallel
# kernels are on (config.NUMBA_PARALLEL_KERNELS, the one switch every threaded kernel reads), a little above it
# otherwise (forced with overrides={"Mul": "numba_parallel"}). With OpenBLAS's threads also spinning on this
# 2-core machine, a 9.8 MB Mul took 8-12 ms at 2 threads vs 1.8 ms serial; BLAS is held to one thread now.
PARALLEL_OVERHEAD = 1.2
PARALLEL_WAKE_US = 5.0


def parallel_cost(ctx, serial_us: float) -> float:
    """serial / threads * overhead + wake-up when enabled; otherwise always a little above serial."""
    if not jconfig.NUMBA_PARALLEL_KERNELS:
        return serial_us * PARALLEL_OVERHEAD + PARALLEL_WAKE_US
    return serial_us / min(max(ctx.threads, 1), 2) * PARALLEL_OVERHEAD + PARALLEL_WAKE_US


def numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape is not None else 0


def cost_elements(ctx, factor=1.0) -> float:
    """Microseconds for a memory-bound op touching its inputs and outputs once."""
    n = sum(numel(s) for s in ctx.in_shapes if s is not None) + sum(numel(s) for s in ctx.out_shapes)
    return n * NS_PER_ELEMENT * factor / 1e3


def all_f32(ctx, idx=None) -> bool:
    """Inputs (all, or those in idx) and outputs are float32."""
    dts = ctx.in_dtypes if idx is None else [ctx.in_dtypes[i] for i in idx]
    return all(d is None or np.dtype(d) == np.float32 for d in dts) and \
        all(np.dtype(d) == np.float32 for d in ctx.out_dtypes)


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def const_input(consts, i, what: str, required=True):
    """The plan-time value of input i (a shape tensor, scales, ...)."""
    v = consts[i] if consts is not None and i < len(consts) else None
    if v is None and required:
        from .registry import PlanTimeValueNeeded

        raise PlanTimeValueNeeded(i, what)
    if v is not None and hasattr(v, "to_float"):
        v = v.to_float()
    return None if v is None else np.asarray(v)


def has_input(node, i) -> bool:
    return len(node.inputs) > i and bool(node.inputs[i])


def flat(a):
    """A 1-D view of a C-contiguous array (copies only if it is not contiguous)."""
    return a.reshape(-1)


def writable_f32(a):
    """A writable, C-contiguous float32 copy of a (small) constant, so kernels see one array type
    whether the constant came from a read-only memory map or a folded value."""
    if hasattr(a, "to_float"):  # a compressed (fp16/int8) constant
        a = a.to_float()
    return np.array(a, dtype=np.float32, copy=True, order="C")


def contiguous_strides(shape) -> list:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= int(d)
    return st[::-1]


def collapse_copy(shape, s_str, d_str, rank=6):
    """Drop size-1 dims and merge dims contiguous in both source and destination, then pad to `rank`.
    Returns (shape, s_str, d_str) as int64 arrays, or None if more than `rank` dims remain."""
    dims = [(int(n), int(a), int(b)) for n, a, b in zip(shape, s_str, d_str) if int(n) != 1]
    merged: list = []
    for n, a, b in dims:
        if merged:
            pn, pa, pb = merged[-1]
            if pa == a * n and pb == b * n:
                merged[-1] = (pn * n, a, b)
                continue
        merged.append((n, a, b))
    if len(merged) > rank:
        return None
    merged = [(1, 0, 0)] * (rank - len(merged)) + merged
    return (np.array([m[0] for m in merged], np.int64), np.array([m[1] for m in merged], np.int64),
            np.array([m[2] for m in merged], np.int64))
