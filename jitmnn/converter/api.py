"""convert(): ONNX file -> import -> passes -> (compression) -> .jmnn file, with a printable report.

    report = jitmnn.convert("det.onnx", "det.jmnn")
    print(jitmnn.converter.api.format_report(report))
"""

from __future__ import annotations

import os

from .. import __version__
from .. import format as jformat
from ..errors import ConversionError, ParamsError, UnsupportedOpError
from .checks import unsupported_ops
from .onnx_import import import_onnx, load_model
from .passes import run_passes

# Options of the weight-compression step (jitmnn/compression.py); their "not requested" values.
COMPRESSION_OPTIONS = {"fp16": False, "bf16": False, "weight_quant_bits": None, "block_size": None,
                       "asymmetric": False, "compression_params": None}


def _compression_kind(options: dict):
    """The one storage kind the options ask for (None: plain fp32); conflicting options are an error."""
    kinds = [k for k, on in (("fp16", options["fp16"]), ("bf16", options["bf16"])) if on]
    bits = options["weight_quant_bits"]
    if bits is not None:
        if bits not in (8, 4):
            raise ConversionError(f"weight_quant_bits must be 8 or 4, got {bits!r}")
        kinds.append(f"int{bits}")
    if len(kinds) > 1:
        raise ConversionError(f"choose one weight storage, got {' and '.join(kinds)}")
    if bits is None and (options["block_size"] is not None or options["asymmetric"]):
        raise ConversionError("block_size and asymmetric apply to weight_quant_bits (int8/int4) only")
    if options["block_size"] is not None and int(options["block_size"]) <= 0:
        raise ConversionError(f"block_size must be positive, got {options['block_size']!r}")
    return kinds[0] if kinds else None


def _compress(graph, options: dict, warnings: list):
    """Weight compression (fp16/bf16 storage, int8/int4 weight-only quantization), called on the optimised
    graph right before it is saved; jitmnn/compression.py does the work. Returns (graph, per-layer rows).
    Layers kept in fp32 (too small, shared, or fp16 would underflow them) are listed in `warnings`."""
    kind = _compression_kind(options)
    if options["compression_params"] is not None:
        return _apply_params(graph, options, warnings)
    if kind is None:
        return graph, []
    from ..compression import compress_graph

    try:
        rows = compress_graph(graph, kind, block_size=int(options["block_size"] or 0),
                              asymmetric=bool(options["asymmetric"]))
    except ValueError as e:  # e.g. nothing was compressed: a silent no-op would hide a mistake
        raise ConversionError(str(e)) from e
    # Layers too small to be worth it are summarised in the report; a layer kept in fp32 because the
    # requested storage would damage it (fp16 underflow after BN folding) deserves a warning.
    warnings.extend(f"{r['layer']}: {r['note']}" for r in rows
                    if r.get("storage") == "fp32" and str(r.get("note", "")).startswith("kept fp32"))
    return graph, rows


def _apply_params(graph, options: dict, warnings: list):
    """Per-layer storage from a compression-params file (jitmnn calibrate). Every way the file can fail to
    do what the user meant is a ParamsError naming the problem: another model (content hash), layers the
    model does not have, a file that would leave every weight float."""
    from ..compression import WEIGHT_INPUTS, compress_graph
    from ..quant import params as P

    src = options["compression_params"]
    where = src if isinstance(src, (str, os.PathLike)) else "compression params"
    params = P.load(src)
    want, have = params["model"]["sha256"], options.get("_model_sha256")
    if have is not None and want != have:
        raise ParamsError(f"{where}: model hash mismatch: the params were calibrated for "
                          f"{params['model'].get('source', '?')} (sha256 {want[:16]}...), this model's sha256 is "
                          f"{have[:16]}...; run `jitmnn calibrate` on this model")
    resolved = P.resolve_layers(params, graph)
    changing = {k: e for k, e in resolved.items() if e["kind"] != "fp32"}
    if not changing:
        raise ParamsError(f"{where}: changes nothing: {len(params['layers'])} layer entr"
                          f"{'y' if len(params['layers']) == 1 else 'ies'}, none with a storage other than fp32")
    layers = {}
    for n in graph.nodes:
        if n.op in WEIGHT_INPUTS:
            layers[n.name] = P.compression_spec(resolved[n.name]) if n.name in resolved else {"kind": "fp32"}
    try:
        rows = compress_graph(graph, "fp32", layers=layers)
    except ValueError as e:  # nothing compressed, or scales the weights cannot take
        raise ParamsError(f"{where}: {e}") from e
    for r in rows:
        entry = resolved.get(r["layer"])
        if entry is None:
            r["note"] = "not in the params file: kept fp32"
        elif entry.get("activation"):
            r["activation"] = (entry["activation"].get("input") or {}).get("range")
    unlisted = [r["layer"] for r in rows if r["layer"] not in resolved]
    if unlisted:
        warnings.append(f"{len(unlisted)} weighted layer(s) not in the params file kept fp32: "
                        + ", ".join(unlisted[:5]) + (" ..." if len(unlisted) > 5 else ""))
    return graph, rows


def onnx_to_graph(src_onnx, warnings: list | None = None, pass_log: dict | None = None):
    """An ONNX model (path or ModelProto) as an optimised Graph ready to run: import, then the passes.
    What convert() saves, and what the ONNX backend runs from memory."""
    warnings = [] if warnings is None else warnings
    return optimise(import_onnx(src_onnx, check_runtime=True, warnings=warnings), pass_log)


def optimise(graph, pass_log: dict | None = None):
    """The converter passes, then the check that the runtime can run every op left."""
    graph = run_passes(graph, {} if pass_log is None else pass_log)
    missing = unsupported_ops(graph)
    if missing:
        raise UnsupportedOpError(missing)
    return graph


def convert(src_onnx, dst_jmnn, *, fp16: bool = False, bf16: bool = False, weight_quant_bits: int | None = None,
            block_size: int | None = None, asymmetric: bool = False, compression_params=None) -> dict:
    """Convert an ONNX model (path or ModelProto) to a .jmnn file; returns the report dict:
    source/output paths and sizes, op counts before/after, what each pass did, warnings.

    Raises UnsupportedOpError naming every op the converter or runtime lacks (all at once) and
    ConversionError for unreadable models or attribute values jitmnn cannot honour."""
    options = {"fp16": fp16, "bf16": bf16, "weight_quant_bits": weight_quant_bits, "block_size": block_size,
               "asymmetric": asymmetric, "compression_params": compression_params}
    if _compression_kind(options) is not None and compression_params is not None:
        raise ParamsError("compression_params chooses each layer's storage: do not combine it with "
                          "fp16/bf16/weight_quant_bits/block_size/asymmetric")
    model, src_bytes, src_name = load_model(src_onnx)
    if compression_params is not None:
        from ..quant.params import model_hash

        options["_model_sha256"] = model_hash(model)
    warnings: list = []
    ops_before: dict = {}
    for n in model.graph.node:
        ops_before[n.op_type] = ops_before.get(n.op_type, 0) + 1
    pass_log: dict = {}
    graph = import_onnx(model, check_runtime=True, warnings=warnings)
    imported_weight_bytes = graph.weight_bytes()
    graph = optimise(graph, pass_log)
    graph, compression_rows = _compress(graph, options, warnings)
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
        "compression": compression_rows,
        "compression_params": (None if compression_params is None else os.fspath(compression_params)
                               if isinstance(compression_params, (str, os.PathLike)) else "<params dict>"),
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
    rows = report.get("compression") or []
    done = [r for r in rows if r.get("storage") != "fp32"]
    if rows:
        before = sum(r.get("bytes_before", 0) for r in done)
        after = sum(r.get("bytes_after", 0) for r in done)
        worst = max(done, key=lambda r: r.get("rel_error", 0.0), default=None)
        lines.append(f"  compression: {len(done)} of {len(rows)} layers {done[0]['storage'] if done else ''}"
                     f" (others kept fp32), "
                     f"{before / mb:.2f} MB -> {after / mb:.2f} MB"
                     + (f"; worst rel. error {worst['rel_error']:.2e} ({worst['layer']})" if worst else ""))
    if rows and report.get("compression_params"):
        lines.extend(compression_table(report))
    for w in report["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def compression_table(report: dict) -> list:
    """Size before/after and one row per weighted layer (what a params file did to each)."""
    rows = report.get("compression") or []
    mb = 1e6
    wb, wa = report["weights_bytes_before"], report["weights_bytes_after"]
    lines = [f"  compression params {report.get('compression_params') or ''}: weights {wb / mb:.2f} MB -> "
             f"{wa / mb:.2f} MB ({wa / max(wb, 1):.3f}x), file {report['output_bytes'] / mb:.2f} MB",
             f"    {'layer':<34} {'storage':<30} {'KB before':>10} {'KB after':>9} {'rel.err':>9}  input range"]
    for r in rows:
        rng = r.get("activation")
        rng = f"[{rng[0]:.3g}, {rng[1]:.3g}]" if rng else ""
        storage = r["storage"] + (" +fp16 bias" if r.get("bias") else "")
        if r["storage"] == "fp32":
            storage += f" ({r['note']})" if r.get("note") else ""
        lines.append(f"    {r['layer'][:34]:<34} {storage:<30} {r.get('bytes_before', 0) / 1e3:>10.1f} "
                     f"{r.get('bytes_after', 0) / 1e3:>9.1f} {r.get('rel_error', 0.0):>9.2e}  {rng}")
    return lines
