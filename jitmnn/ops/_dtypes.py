"""ml_dtypes (bfloat16, float8, int4, ... as numpy types), imported on first use: the import costs about half a
second, which a model that never touches these types should not pay at load time. `ml` stands in for the
module; `Lazy` holds a dtype table built the first time it is read."""

from __future__ import annotations

import functools


@functools.cache
def _module():
    import ml_dtypes

    return ml_dtypes


class _LazyModule:
    def __getattr__(self, name):
        return getattr(_module(), name)


ml = _LazyModule()


class Lazy:
    """A set or dict of dtypes built on first use; supports what the op modules do with their tables."""

    def __init__(self, build):
        self._build = build

    @functools.cached_property
    def value(self):
        return self._build()

    def __contains__(self, item):
        return item in self.value

    def __iter__(self):
        return iter(self.value)

    def __len__(self):
        return len(self.value)

    def __getitem__(self, key):
        return self.value[key]

    def get(self, key, default=None):
        return self.value.get(key, default)

    def items(self):
        return self.value.items()

    def __or__(self, other):
        return self.value | (other.value if isinstance(other, Lazy) else other)

    def __ror__(self, other):
        return (other.value if isinstance(other, Lazy) else other) | self.value
