"""Which ops of a converted graph the runtime cannot run (shared by import_onnx and convert)."""

from __future__ import annotations

from ..ops import registry

# Ops the converter emits that the passes always remove, so the runtime never needs them.
PASS_ELIMINATED = frozenset({"Identity"})


def unsupported_ops(graph) -> set:
    """Op types in `graph` with no runtime OpDef (jitmnn.ops.registry), ignoring pass-eliminated ones."""
    return {n.op for n in graph.nodes if n.op not in PASS_ELIMINATED and not registry.has_op(n.op)}
