"""Serve a batch with one clone per worker thread (MNN's recommended pattern, made one call).

Kernels release the GIL (nogil Numba kernels, numpy BLAS), so N clones on N threads run in parallel.
Clones share the model's read-only weights and each owns its arena; closing the pool returns them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


class ClonePool:
    """`with ClonePool(m, workers=2) as pool: outs = pool.map(list_of_input_dicts)`; results keep input order."""

    def __init__(self, module, workers: int = 2):
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

    def map(self, batch):
        return list(self._executor.map(self._run, batch))

    @property
    def clones(self):
        return list(self._clones)

    def close(self):
        self._executor.shutdown(wait=True)
        for c in self._clones:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
