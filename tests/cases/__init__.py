"""Equivalence cases per op group; each module defines CASES = [harness.Case, ...] with a TIERS dict
{algorithm name: tier name} (default tier "F32"). Shapes should break tiles: channels 1, 3, 13, 17;
sizes 7x9, 17x18; batch > 1."""

import importlib
import pkgutil


def all_cases():
    cases, tiers = [], {}
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        cases.extend(mod.CASES)
        tiers.update(getattr(mod, "TIERS", {}))
    return cases, tiers
