"""Op definitions and their algorithms. Each module here registers its ops when imported; the registry
imports all of them lazily on first use, so `import jitmnn` compiles and loads nothing."""

import importlib
import pkgutil


def load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "registry" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
