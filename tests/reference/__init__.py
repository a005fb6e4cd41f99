"""Independent, plain (often loop-based, float64) references for every op; each group module defines
REFERENCES = {op_name: fn(attrs, inputs) -> [outputs]}. The registry-driven test requires one per op."""

import importlib
import pkgutil


def all_references() -> dict:
    refs = {}
    for info in pkgutil.iter_modules(__path__):
        refs.update(importlib.import_module(f"{__name__}.{info.name}").REFERENCES)
    return refs
