"""The one place kernel compile flags come from (STYLE: flags from one config constant)."""

from numba import njit

from jitmnn.config import FASTMATH, NUMBA_CACHE


def kernel(fn=None, *, parallel=False, fastmath=FASTMATH, error_model="numpy"):
    """@njit(cache=True, nogil=True, fastmath=...) -- every kernel releases the GIL so clones run in parallel.
    error_model="python" keeps Python's checks (the Winograd, elementwise and unary kernels were written
    and measured with them)."""
    deco = njit(cache=NUMBA_CACHE, nogil=True, fastmath=fastmath, parallel=parallel, error_model=error_model)
    return deco(fn) if fn is not None else deco


def helper(fn):
    """A small function kernels call, inlined into each caller at the Numba IR level."""
    return njit(cache=NUMBA_CACHE, nogil=True, fastmath=FASTMATH, inline="always")(fn)
