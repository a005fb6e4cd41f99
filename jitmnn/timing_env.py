"""The environment `jitmnn bench` times in (the package's copy of the idea in benchmarks/timing_env.py).

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on some machines for safety with old OpenBLAS builds; they pin
OpenBLAS to its Haswell kernel and halve numpy's SGEMM speed on AVX-512 machines, which jitmnn's BLAS layers
inherit. OpenBLAS reads them once, when numpy first loads it, so they can only be dropped before that: this
module imports nothing but the standard library, and `prepare()` must run before numpy is imported. It edits
os.environ of this process (fine for the CLI, which exits afterwards) and says what it did or could not do."""

from __future__ import annotations

import os
import sys

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def numpy_loaded() -> bool:
    return "numpy" in sys.modules


def prepare(threads: int) -> list[str]:
    """Drop BLAS_ENV and size BLAS's thread pool to `threads` if numpy is not loaded yet; one note per
    decision, for the benchmark's output (an empty list: nothing was set and nothing needed changing)."""
    present = [k for k in BLAS_ENV if k in os.environ]
    if numpy_loaded():
        if not present:
            return []
        return [f"{', '.join(present)} set and numpy already loaded in this process, so OpenBLAS keeps them "
                f"(they can slow its GEMMs ~2x); run `jitmnn bench` from a shell to time without them"]
    notes = []
    for key in present:
        del os.environ[key]
    if present:
        notes.append(f"unset {', '.join(present)} for this timing run (they pin OpenBLAS to its slower Haswell kernel)")
    # BLAS would start one thread per core at load; threads.use() caps it later, but a pool never started
    # cannot spin against the session's threads or ORT's.
    changed = [k for k in THREAD_ENV if os.environ.get(k) != str(threads)]
    for key in changed:
        os.environ[key] = str(threads)
    if changed:
        notes.append(f"{', '.join(changed)} = {threads} (the --threads value) for this run")
    return notes
