"""The one place kernel compile flags come from (STYLE: flags from one config constant)."""

from numba import njit

from jitmnn.config import FASTMATH, NUMBA_CACHE


def kernel(fn=None, *, parallel=False, fastmath=FASTMATH):
    """@njit(cache=True, nogil=True, fastmath=...) -- every kernel releases the GIL so clones run in parallel."""
    deco = njit(cache=NUMBA_CACHE, nogil=True, fastmath=fastmath, parallel=parallel, error_model="numpy")
    return deco(fn) if fn is not None else deco
