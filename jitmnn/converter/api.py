"""convert(): ONNX file -> import -> passes -> (compression) -> .jmnn file, with a printable report.

    report = jitmnn.convert("det.onnx", "det.jmnn")
    print(jitmnn.converter.api.format_report(report))
"""

from __future__ import annotations

import os

from .. import __version__
from .. import format as jformat
from ..errors import ConversionError, UnsupportedOpError
from .checks import unsupported_ops
from .onnx_import import import_onnx, load_model
from .passes import run_passes

# Options of the weight-compression step (jitmnn/compression.py); their "not requested" values.
COMPRESSION_OPTIONS = {"fp16": False, "bf16": False, "weight_quant_bits": None, "block_size": None,
                       "asymmetric": False, "compression_params": None}


def _compress(graph, options: dict, warnings: list):
    """Hook for weight compression (fp16/bf16 storage, int8/int4 weight-only quantization, params files),
    called on the optimised graph right before it is saved. The compression step (jitmnn/compression.py)
    plugs in here: it returns the graph with compressed constants and appends human-readable notes (layers
    kept in fp32, rescaled, ...) to `warnings`. `options` holds the COMPRESSION_OPTIONS keys."""
    requested = sorted(k for k, v in options.items() if v != COMPRESSION_OPTIONS[k])
    if requested:
        raise ConversionError(f"{', '.join(requested)}: weight compression in convert() is not implemented yet")
    return graph


def convert(src_onnx, dst_jmnn, *, fp16: bool = False, bf16: bool = False, weight_quant_bits: int | None = None,
            block_size: int | None = None, asymmetric: bool = False, compression_params=None) -> dict:
    """Convert an ONNX model (path or ModelProto) to a .jmnn file; returns the report dict:
    source/output paths and sizes, op counts before/after, what each pass did, warnings.

    Raises UnsupportedOpError naming every op the converter or runtime lacks (all at once) and
    ConversionError for unreadable models or attribute values jitmnn cannot honour."""
    options = {"fp16": fp16, "bf16": bf16, "weight_quant_bits": weight_quant_bits, "block_size": block_size,
               "asymmetric": asymmetric, "compression_params": compression_params}
    model, src_bytes, src_name = load_model(src_onnx)
    warnings: list = []
    ops_before: dict = {}
    for n in model.graph.node:
        ops_before[n.op_type] = ops_before.get(n.op_type, 0) + 1
    graph = import_onnx(model, check_runtime=True, warnings=warnings)
    imported_weight_bytes = graph.weight_bytes()
    pass_log: dict = {}
    graph = run_passes(graph, pass_log)
    missing = unsupported_ops(graph)
    if missing:
        raise UnsupportedOpError(missing)
    graph = _compress(graph, options, warnings)
    pass_counts = {name: sum(1 for line in lines if not line.startswith("kept")) for name, lines in pass_log.items()}
    # Something a pass chose not to do (a fold that would bloat the file, a shape rule that failed on
    # constants) is worth the user's attention.
    warnings.extend(f"{name}: {line}" for name, lines in pass_log.items() for line in lines if line.startswith("kept"))
    metadata = {"converter": {"jitmnn_version": __version__, "source": os.path.basename(src_name),
                              "passes": pass_counts}}
    out_bytes = jformat.save(graph, os.fspath(dst_jmnn), metadata=metadata)
    return {
        "source": src_name,
        "output": os.fspath(dst_jmnn),
        "source_bytes": src_bytes,
        "output_bytes": out_bytes,
        "opset": graph.metadata.get("opset"),
        "inputs": {t.name: [d if d is not None else "?" for d in t.shape] for t in graph.inputs},
        "outputs": list(graph.outputs),
        "ops_before": dict(sorted(ops_before.items())),
        "ops_after": dict(sorted(graph.op_counts().items())),
        "nodes_before": len(model.graph.node),
        "nodes_after": len(graph.nodes),
        "weights_bytes_before": imported_weight_bytes,
        "weights_bytes_after": graph.weight_bytes(),
        "passes": pass_counts,
        "pass_details": pass_log,
        "warnings": warnings,
    }


def format_report(report: dict, details: bool = False) -> str:
    """The report as text (what `jitmnn convert` prints)."""
    mb = 1e6
    lines = [
        f"converted {report['source']} -> {report['output']}",
        f"  size: {report['source_bytes'] / mb:.2f} MB -> {report['output_bytes'] / mb:.2f} MB"
        f" (weights {report['weights_bytes_before'] / mb:.2f} MB -> {report['weights_bytes_after'] / mb:.2f} MB)",
        f"  opset {report['opset']}; inputs {report['inputs']}; outputs {report['outputs']}",
        f"  nodes: {report['nodes_before']} -> {report['nodes_after']}",
    ]
    before, after = report["ops_before"], report["ops_after"]
    lines.append("  ops (before -> after):")
    for op in sorted(set(before) | set(after)):
        lines.append(f"    {op:<22} {before.get(op, 0):>5} -> {after.get(op, 0):>5}")
    lines.append("  passes: " + ", ".join(f"{k} {v}" for k, v in report["passes"].items()))
    if details:
        for name, entries in report["pass_details"].items():
            for e in entries:
                lines.append(f"    [{name}] {e}")
    for w in report["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)
