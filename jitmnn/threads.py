"""Thread budget: a session's num_threads is the number of threads its kernels compute with. With Numba's
parallel kernels on (config.NUMBA_PARALLEL_KERNELS) those are Numba's threads and BLAS gets one, so the two
pools never run, or spin-wait, at the same time; with them off, the threads go to BLAS."""

from __future__ import annotations

import threading

from . import config

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
    _set_blas_threads(blas_threads(n))


def blas_threads(n: int) -> int:
    """The threads BLAS runs on for a session of n threads."""
    return 1 if config.NUMBA_PARALLEL_KERNELS else max(1, n)


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
