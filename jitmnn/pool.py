"""Serve a batch with one clone per worker thread (MNN's recommended pattern, made one call).

Kernels release the GIL (nogil Numba kernels, numpy BLAS), so N clones on N threads run in parallel.
Clones share the model's read-only weights and each owns its arena; closing the pool returns them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import numpy as np

    from .module import Module


class ClonePool:
    """One clone of a module per worker thread; results keep input order.

        with ClonePool(m, workers=2) as pool:          # or jitmnn.ClonePool(m, workers=2)
            outs = pool.map(list_of_input_dicts)

    The clones are made up front (each plans its arena on its first input), so a pool is meant to live as long as
    the service; closing it closes the clones and gives their arenas back, the module itself stays open."""

    def __init__(self, module: Module, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._clones = [module.clone() for _ in range(workers)]
        self._free = list(self._clones)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jitmnn")

    def _run(self, inputs):
        with self._lock:
            clone = self._free.pop()
        try:
            return clone.run(inputs)
        finally:
            with self._lock:
                self._free.append(clone)

    def map(self, batch: Iterable[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """Run each input dict of `batch` on a free clone; returns the outputs in the order of `batch`.

            outs = pool.map([{"x": a}, {"x": b}])     # outs[1] is b's result, whichever clone ran it

        Blocks until the batch is done; if an input fails (InputError, ...), its error is raised here."""
        return list(self._executor.map(self._run, batch))

    @property
    def clones(self) -> list[Module]:
        """The pool's clones (a copy of the list), e.g. to read each one's memory_info()."""
        return list(self._clones)

    def close(self) -> None:
        """Wait for running work, stop the threads and close every clone (its arena goes back)."""
        self._executor.shutdown(wait=True)
        for c in self._clones:
            c.close()

    def __enter__(self) -> ClonePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
