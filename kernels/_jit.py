"""The one place kernel compile flags come from (STYLE: flags from one config constant)."""

from numba import njit

from jitmnn.config import FASTMATH, NUMBA_CACHE


def kernel(fn=None, *, parallel=False, fastmath=FASTMATH, error_model="numpy"):
    """@njit(cache=True, nogil=True, fastmath=...) -- every kernel releases the GIL so clones run in parallel.
    error_model="numpy": a float division by zero gives inf/nan as in ONNX (the elementwise kernels used
    "python" until ONNX's tests showed Div raising ZeroDivisionError); the Winograd kernels keep "python",
    with which they were written and measured."""
    deco = njit(cache=NUMBA_CACHE, nogil=True, fastmath=fastmath, parallel=parallel, error_model=error_model)
    return deco(fn) if fn is not None else deco


def helper(fn):
    """A small function kernels call, inlined into each caller at the Numba IR level."""
    return njit(cache=NUMBA_CACHE, nogil=True, fastmath=FASTMATH, inline="always")(fn)
