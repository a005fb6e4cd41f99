"""The environment every benchmark times in, in one place.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on these machines for safety with old OpenBLAS builds; they pin
OpenBLAS to its Haswell kernel and halve numpy's SGEMM speed here (ANCHORS.md). Tests and CI keep them; a
timing run drops them, says so, and pins every thread pool to the configuration's thread count."""

from __future__ import annotations

import os
import sys

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_ENV = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def timing_env(threads: int | None = None, numba_cache_dir: str | None = None) -> dict:
    """os.environ without BLAS_ENV; every THREAD_ENV pool set to `threads` when given."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV}
    if threads is not None:
        env.update({k: str(threads) for k in THREAD_ENV})
    if numba_cache_dir:
        env["NUMBA_CACHE_DIR"] = numba_cache_dir
    return env


def reexec_for_timing(threads: int | None = None) -> None:
    """Restart this script in timing_env(threads) unless it already runs there: numpy and OpenBLAS read
    these variables when they load, so they cannot be changed from inside a running process."""
    env = timing_env(threads)
    if env == dict(os.environ):
        return
    dropped = [k for k in BLAS_ENV if k in os.environ]
    if dropped:
        print(f"note: unsetting {', '.join(dropped)} for this benchmark run", flush=True)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)
