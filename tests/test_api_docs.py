"""The user-facing API documents itself: every name jitmnn exports, every public method and property of the
classes users hold (Module, InferenceSession and its option classes, ClonePool, the ONNX backend, Timing) and the
public functions of jitmnn.quant, jitmnn.backend, jitmnn.timing and jitmnn.models have a docstring of their own,
and the functions and methods have type hints on their parameters and return value. Explanation (what
`Module.explain()` returns) is checked with them.

Each test collects every miss and fails once with the whole list, so one run shows all that is left to write."""

from __future__ import annotations

import dataclasses
import enum
import inspect

import pytest

import jitmnn
import jitmnn.backend
import jitmnn.models
import jitmnn.quant
import jitmnn.timing
from jitmnn.explain import Explanation
from jitmnn.module import Module
from jitmnn.pool import ClonePool
from jitmnn.session import InferenceSession, ModelMetadata, NodeArg, RunOptions, SessionOptions

# Modules whose public functions and classes are API: the names each exports (its __all__ or its public globals
# defined in jitmnn; re-exported names are checked where they are defined, once).
API_MODULES = (jitmnn, jitmnn.quant, jitmnn.backend, jitmnn.timing, jitmnn.models)
# Classes whose public methods and properties are API.
API_CLASSES = (Module, InferenceSession, SessionOptions, RunOptions, NodeArg, ModelMetadata, ClonePool,
               jitmnn.backend.JitmnnBackend, jitmnn.backend.JitmnnRep, jitmnn.timing.Timing, Explanation)


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] in ("jitmnn", "models")


def _api_objects():
    """(qualified name, function or class) for each public callable of API_MODULES, each object once."""
    seen, out = set(), []
    for mod in API_MODULES:
        names = getattr(mod, "__all__", None) or dir(mod)
        for name in names:
            if name.startswith("_"):
                continue
            obj = getattr(mod, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or not _ours(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            out.append((f"{mod.__name__}.{name}", obj))
    return out


def _members(cls):
    """(qualified name, function or property) for each public method and property `cls` defines or inherits
    from a jitmnn class (not from object, a dataclass or onnx's Backend base)."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if isinstance(attr, property):
            func = attr.fget
        elif inspect.isfunction(attr):
            func = attr
        else:
            continue  # data attributes and dataclass fields are documented in the class docstring
        if _ours(func):
            out.append((f"{cls.__name__}.{name}", attr))
    return out


def _own_doc(obj) -> str:
    """The docstring written for `obj` itself: not a dataclass's generated signature, not an Enum's default."""
    doc = (obj.fget.__doc__ if isinstance(obj, property) else obj.__doc__) or ""
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj) and doc.startswith(obj.__name__ + "("):
            return ""
        if issubclass(obj, enum.Enum) and doc == enum.Enum.__doc__:
            return ""
    return doc.strip()


def _missing_hints(func) -> list:
    """Parameters (and "return") of `func` without a type hint; self/cls and *args/**kwargs pass without one
    only if they are self/cls."""
    sig = inspect.signature(func)
    missing = [p.name for p in sig.parameters.values()
               if p.annotation is inspect.Parameter.empty and p.name not in ("self", "cls")]
    if sig.return_annotation is inspect.Signature.empty and func.__name__ != "__init__":
        missing.append("return")
    return missing


def test_every_public_name_has_a_docstring():
    objects = _api_objects() + [m for cls in API_CLASSES for m in _members(cls)]
    assert len(objects) > 60, f"found only {len(objects)} API objects: the walk is broken"
    missing = sorted(name for name, obj in objects if not _own_doc(obj))
    assert not missing, f"{len(missing)} public API names have no docstring:\n  " + "\n  ".join(missing)


def test_api_functions_have_type_hints():
    funcs = [(n, o) for n, o in _api_objects() if inspect.isfunction(o)]
    funcs += [(n, o) for cls in API_CLASSES for n, o in _members(cls) if inspect.isfunction(o)]
    funcs += [(f"{cls.__name__}.__init__", cls.__init__) for cls in (Module, InferenceSession, ClonePool)]
    missing = sorted(f"{name}: {', '.join(m)}" for name, f in funcs if (m := _missing_hints(f)))
    assert not missing, f"{len(missing)} API functions lack type hints:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("name", ["load", "convert", "ClonePool", "from_graph", "InferenceSession"])
def test_entry_points_show_an_example(name):
    """The README's entry points carry a usage example in their docstring (a line of code, not just prose)."""
    doc = inspect.cleandoc(_own_doc(getattr(jitmnn, name)))
    assert any("(" in line and ("=" in line or line.strip().startswith(("with ", "jitmnn."))) and
               line.startswith("    ") for line in doc.splitlines()), f"jitmnn.{name}'s docstring has no example"


def test_py_typed_marker_is_shipped():
    """PEP 561: type checkers use jitmnn's hints only if the package carries py.typed (pyproject ships it)."""
    import pathlib

    root = pathlib.Path(jitmnn.__file__).parent
    assert (root / "py.typed").is_file()
    pyproject = (root.parent / "pyproject.toml").read_text()
    assert "py.typed" in pyproject.split("[tool.setuptools.package-data]", 1)[-1].split("\n[", 1)[0]
