"""Thread budget: a session's num_threads bounds Numba's threads and BLAS's threads together, so the
two never oversubscribe this machine's cores (Numba's OpenMP and OpenBLAS both spin-wait)."""

from __future__ import annotations

import threading

_local = threading.local()
_blas = {"controller": None, "threads": None}
_lock = threading.Lock()


def use(n: int) -> None:
    """Apply a thread count for the calling Python thread (Numba's setting is per thread) and cap BLAS."""
    if getattr(_local, "n", None) == n:
        return
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _local.n = n
    _set_blas_threads(n)


def _set_blas_threads(n: int) -> None:
    with _lock:
        if _blas["threads"] == n:
            return
        if _blas["controller"] is None:
            from threadpoolctl import ThreadpoolController

            _blas["controller"] = ThreadpoolController()
        # BLAS is process-wide: with several sessions alive it gets the smallest request, never more.
        want = n if _blas["threads"] is None else min(n, _blas["threads"])
        _blas["controller"].limit(limits=want, user_api="blas")
        _blas["threads"] = want
