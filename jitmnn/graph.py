"""The graph IR every stage speaks: nodes with ONNX op names and attribute names (plus a few fused
attributes such as `activation`), named tensors, and constants. Converter passes are Graph -> Graph."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ShapeError


@dataclass
class Node:
    name: str
    op: str
    inputs: list  # tensor names; "" marks an omitted optional input
    outputs: list
    attrs: dict = field(default_factory=dict)

    def attr(self, key, default=None):
        return self.attrs.get(key, default)


@dataclass
class TensorInfo:
    """A graph input: its declared shape (ints, or None for a dimension fixed only at run time)."""

    name: str
    shape: tuple
    dtype: str = "float32"


@dataclass
class Graph:
    name: str
    nodes: list
    inputs: list  # [TensorInfo]
    outputs: list  # [str]
    constants: dict  # name -> np.ndarray (possibly a read-only memory-mapped view) or CompressedTensor
    metadata: dict = field(default_factory=dict)

    def producers(self) -> dict:
        return {out: n for n in self.nodes for out in n.outputs}

    def consumers(self) -> dict:
        users: dict = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(n)
        return users

    def validate(self) -> None:
        """Every input of every node is defined before use, names are unique, outputs exist."""
        defined = set(self.constants) | {t.name for t in self.inputs}
        seen_nodes = set()
        for n in self.nodes:
            if n.name in seen_nodes:
                raise ShapeError(f"duplicate node name {n.name!r}")
            seen_nodes.add(n.name)
            for i in n.inputs:
                if i and i not in defined:
                    raise ShapeError(f"node {n.name!r} ({n.op}) reads {i!r}, which nothing defines before it")
            for o in n.outputs:
                if not o:  # an omitted optional output
                    continue
                if o in defined:
                    raise ShapeError(f"tensor {o!r} is defined twice (again by node {n.name!r})")
                defined.add(o)
        for o in self.outputs:
            if o not in defined:
                raise ShapeError(f"graph output {o!r} is never produced")

    def weight_bytes(self) -> int:
        return int(sum(c.nbytes for c in self.constants.values()))

    def op_counts(self) -> dict:
        counts: dict = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


def contiguous(a) -> np.ndarray:
    """A C-contiguous array of the same shape (np.ascontiguousarray turns a 0-d array into shape (1,), which
    changes broadcasting: a scalar constant must stay a scalar)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def as_float_array(value) -> np.ndarray:
    """The fp32 (or native-dtype) array behind a constant, expanding compressed storage if needed."""
    if hasattr(value, "to_float"):
        return value.to_float()
    return value
