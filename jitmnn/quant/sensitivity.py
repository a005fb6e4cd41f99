"""Accuracy against fp32 on held-out inputs, and mixed precision chosen by sensitivity under a budget.

    report = compare("r18.fp32.jmnn", "r18.int8.jmnn", heldout)    # rel. error, top-1 agreement, ...
    params, choice = choose_precision("r18.onnx", calib, heldout, max_rel_error=0.02, out="r18.mixed.json")

choose_precision picks each layer's storage among int4 (blocks of 32), int8 (per channel) and fp16:
1. every layer's sensitivity to each storage is estimated from calibration statistics (the activation-
   weighted relative weight error, jitmnn/quant/calibrate.py), which needs no extra model runs;
2. start from all-int8; if that breaks the budget, move the most sensitive layers to fp16 (the fewest
   that restore the budget, found by bisection over that ordering);
3. then move layers to int4 in order of estimated damage per byte saved, as many as the budget allows
   (bisection again).
Every candidate assignment is *measured* end to end on the held-out inputs (weights fake-quantized, i.e.
quantized then expanded, exactly what the runtime computes with), so the budget is checked, not predicted.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable

import numpy as np

from . import params as P
from .calibrate import (DEFAULT_BLOCK, collect, importance, layer_entries, prepare_graph, search_scales,
                        weighted_error)

if TYPE_CHECKING:
    import onnx

    from ..graph import Graph
    from ..module import Module

DB_THRESHOLD = 0.3  # PP-OCR's DB post-processing binarises the probability map at 0.3


def _module(m):
    if hasattr(m, "run"):
        return m, False
    from ..module import from_graph, load

    if isinstance(m, str) or hasattr(m, "__fspath__"):
        return load(m), True
    return from_graph(m), True


def _feeds(inputs, names):
    for item in inputs:
        yield item if isinstance(item, dict) else {names[0]: np.ascontiguousarray(item, np.float32)}


def outputs_of(model, inputs) -> list:
    """First output of `model` (Module, .jmnn path or Graph) for every held-out input."""
    m, owned = _module(model)
    try:
        return [m.run(f)[m.output_names[0]] for f in _feeds(inputs, m.input_names)]
    finally:
        if owned:
            m.close()


def metrics(ref_outputs: list, outputs: list) -> dict:
    """Relative L2 error per sample (mean and max), max |diff|, top-1 agreement for (N, classes) outputs
    and, for one-channel probability maps (PP-OCR det), IoU of the maps binarised at DB_THRESHOLD."""
    rel, top1, iou, amax = [], [], [], 0.0
    for r, y in zip(ref_outputs, outputs):
        r64, y64 = r.astype(np.float64), y.astype(np.float64)
        for i in range(r.shape[0]):
            n = np.linalg.norm(r64[i])
            rel.append(float(np.linalg.norm(y64[i] - r64[i]) / n) if n else 0.0)
        amax = max(amax, float(np.abs(y64 - r64).max()))
        if r.ndim == 2 and r.shape[1] > 1:
            top1.extend((r.argmax(axis=1) == y.argmax(axis=1)).tolist())
        if r.ndim == 4 and r.shape[1] == 1 and r.min() >= 0 and r.max() <= 1:
            a, b = r > DB_THRESHOLD, y > DB_THRESHOLD
            union = np.logical_or(a, b).sum()
            iou.append(float(np.logical_and(a, b).sum() / union) if union else 1.0)
    out = {"samples": len(rel), "rel_error_mean": float(np.mean(rel)), "rel_error_max": float(np.max(rel)),
           "max_abs_error": amax}
    if top1:
        out["top1_agreement"] = float(np.mean(top1))
    if iou:
        out["db_mask_iou_mean"] = float(np.mean(iou))
        out["db_mask_iou_min"] = float(np.min(iou))
    return out


def compare(reference: Module | str | os.PathLike | Graph, candidate: Module | str | os.PathLike | Graph,
            inputs: Iterable) -> dict:
    """Accuracy of `candidate` against `reference` (fp32) on held-out inputs (arrays, or dicts by input name):
    relative L2 error per sample (mean and max), max |diff|, top-1 agreement for classifier outputs and text-mask
    IoU for PP-OCR-style probability maps (see metrics()).

        Q.compare("rec.jmnn", "rec.int8.jmnn", heldout)["rel_error_mean"]

    Use inputs the calibration never saw: accuracy on the calibration set flatters the quantized model."""
    inputs = list(inputs)
    return metrics(outputs_of(reference, inputs), outputs_of(candidate, inputs))


def _within(m: dict, max_rel_error, min_top1) -> bool:
    if max_rel_error is not None and m["rel_error_max"] > max_rel_error:
        return False
    if min_top1 is not None and m.get("top1_agreement", 1.0) < min_top1:
        return False
    return True


def _fake_quant_graph(graph, layers, entries):
    """The float graph with every layer stored as the params entries say: what the converter will write
    (compression.compress_graph on a copy), so the measured accuracy is the converted model's."""
    from ..compression import compress_graph
    from ..converter.passes import copy_graph

    g = copy_graph(graph)
    specs = {n.name: P.compression_spec(entries[n.name]) for n in layers}
    compress_graph(g, "fp32", layers=specs)
    return g


def _weight_bytes(w, kind, block):
    rows = w.shape[0]
    n = w.size
    if kind == "fp16":
        return 2 * n
    if kind == "fp32":
        return 4 * n
    nblocks = -(-(n // rows) // block) if block and block < n // rows else 1
    data = n if kind == "int8" else rows * (-(-(n // rows) // 2))
    return data + 4 * rows * nblocks


def choose_precision(model: str | os.PathLike | onnx.ModelProto, calibration_inputs: Iterable, heldout_inputs: Iterable, *,
                     max_rel_error: float | None = None, min_top1: float | None = None, method: str = "percentile",
                     samples: int | None = None, sensitivity: str = "estimate", probe_samples: int = 2,
                     out: str | os.PathLike | None = None, progress: bool = True) -> tuple[dict, dict]:
    """Per-layer int4/int8/fp16 under an accuracy budget (max relative output error over the held-out
    inputs and/or minimum top-1 agreement with fp32). Returns (params dict, report dict with the choice
    per layer, the measured accuracy of every assignment tried, and the bytes).

        params, report = Q.choose_precision("rec.onnx", calib, heldout, max_rel_error=0.1, out="rec.mixed.json")
        jitmnn.convert("rec.onnx", "rec.mixed.jmnn", compression_params="rec.mixed.json")

    sensitivity="estimate" orders layers by the calibration-statistics estimate (no extra runs);
    "measured" quantizes one layer at a time (the rest fp32) and measures the model's output error on
    the first `probe_samples` held-out inputs: one model build per layer and storage, slower but it sees
    what the estimate cannot (a layer right before the output matters more than its own error says;
    on PP-OCRv4 det the estimate needed 24 fp16 layers for a 5% budget)."""
    if max_rel_error is None and min_top1 is None:
        raise P.ParamsError("give an accuracy budget: max_rel_error and/or min_top1")
    if sensitivity not in ("estimate", "measured"):
        raise P.ParamsError(f"sensitivity must be 'estimate' or 'measured', got {sensitivity!r}")
    graph, sha, name = prepare_graph(model)
    layers, stats, seen = collect(graph, calibration_inputs, samples, method, progress, "calibrating")
    heldout = list(heldout_inputs)
    ref = outputs_of(graph, heldout)
    from ..compression import compress

    sens = {}
    for n in layers:
        w = np.asarray(graph.constants[n.inputs[1]], np.float32)
        imp = importance(n, w, stats[(n.inputs[0], 1 if n.op != "MatMul" else -1)].mean_square)
        sens[n.name] = {
            "int4": search_scales(w, imp, 4, DEFAULT_BLOCK[4], method != "minmax")[1],
            "int8": search_scales(w, imp, 8, DEFAULT_BLOCK[8], method != "minmax")[1],
            "fp16": weighted_error(w, compress(w, "fp16").to_float(), imp),
            "bytes": {k: _weight_bytes(w, k, DEFAULT_BLOCK.get(P.BITS_OF_KIND[k], 0))
                      for k in ("int4", "int8", "fp16", "fp32")},
        }
    tried = []

    def evaluate(kinds):
        entries = layer_entries(graph, layers, stats, method, 8, 0, True, kinds)
        m = metrics(ref, outputs_of(_fake_quant_graph(graph, layers, entries), heldout))
        tried.append({"int4": sum(k == "int4" for k in kinds.values()),
                      "int8": sum(k == "int8" for k in kinds.values()),
                      "fp16": sum(k == "fp16" for k in kinds.values()), **m})
        return entries, m

    def bisect(order, base, base_result, kind, want_max: bool):
        """Largest (want_max) or smallest prefix of `order` switched to `kind` that keeps the budget
        (the all-`kind` assignment if none does)."""
        cache = {0: (base, *base_result)}

        def at(k):
            if k not in cache:
                kinds = dict(base, **{x: kind for x in order[:k]})
                cache[k] = (kinds, *evaluate(kinds))
            return cache[k]

        ok = lambda k: _within(at(k)[2], max_rel_error, min_top1)  # noqa: E731
        lo, hi = (0, len(order)) if want_max else (1, len(order))
        while lo < hi:
            if want_max:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
            else:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
        return at(lo)

    names = [n.name for n in layers]
    probe = heldout[:max(1, probe_samples)]

    def damage(kind):
        """Each layer's own effect on the output (the rest fp32): measured, or the estimate."""
        if sensitivity == "estimate":
            return {k: sens[k][kind] for k in names}
        from .calibrate import Progress

        bar = Progress(len(names), f"measuring {kind} sensitivity", enabled=progress, unit="layer")
        for k in names:
            entries = layer_entries(graph, layers, stats, method, 8, 0, True,
                                    {x: (kind if x == k else "fp32") for x in names})
            m = metrics(ref[:len(probe)], outputs_of(_fake_quant_graph(graph, layers, entries), probe))
            sens[k][f"measured_{kind}"] = m["rel_error_mean"]
            bar.update()
        bar.close()
        return {k: sens[k][f"measured_{kind}"] for k in names}

    kinds = {k: "int8" for k in names}
    entries, m = evaluate(kinds)
    if not _within(m, max_rel_error, min_top1):
        d8 = damage("int8")
        order = sorted(names, key=lambda k: -d8[k])
        kinds, entries, m = bisect(order, kinds, (entries, m), "fp16", want_max=False)
    else:
        d4 = damage("int4")
        order = sorted(names, key=lambda k: d4[k] / max(sens[k]["bytes"]["int8"] - sens[k]["bytes"]["int4"], 1))
        kinds, entries, m = bisect(order, kinds, (entries, m), "int4", want_max=True)
    met = _within(m, max_rel_error, min_top1)
    params = P.new_params(sha, name.rsplit("/", 1)[-1], {
        "method": method, "bits": "mixed", "samples": seen, "heldout_samples": len(heldout),
        "budget": {"max_rel_error": max_rel_error, "min_top1": min_top1}, "budget_met": met, "heldout": m,
        "sensitivity": sensitivity})
    params["layers"] = entries
    if out is not None:
        P.save(params, out)
    total = {k: sum(sens[n]["bytes"][k] for n in names) for k in ("fp32",)}
    chosen = sum(sens[n]["bytes"][kinds[n]] for n in names)
    report = {"choice": {n: kinds[n] for n in names}, "sensitivity": sens, "sensitivity_mode": sensitivity,
              "heldout": m, "budget_met": met,
              "tried": tried, "weight_bytes_fp32": total["fp32"], "weight_bytes_chosen": chosen,
              "counts": {k: sum(v == k for v in kinds.values()) for k in ("int4", "int8", "fp16")}}
    return params, report


def format_choice(report: dict) -> str:
    """The chosen storage per layer with its estimated sensitivity, then the measured accuracy."""
    lines = [f"{'layer':<34} {'choice':<6} {'est. int4':>10} {'est. int8':>10} {'meas. int4':>10} {'meas. int8':>10} "
             f"{'KB fp32':>9} {'KB chosen':>10}"]

    def cell(v):
        return f"{v:>10.2e}" if v is not None else f"{'-':>10}"

    for n, k in report["choice"].items():
        s = report["sensitivity"][n]
        lines.append(f"{n[:34]:<34} {k:<6} {s['int4']:>10.2e} {s['int8']:>10.2e} {cell(s.get('measured_int4'))} "
                     f"{cell(s.get('measured_int8'))} {s['bytes']['fp32'] / 1e3:>9.1f} {s['bytes'][k] / 1e3:>10.1f}")
    c, h = report["counts"], report["heldout"]
    lines.append(f"int4 x{c['int4']}, int8 x{c['int8']}, fp16 x{c['fp16']}: weights "
                 f"{report['weight_bytes_fp32'] / 1e6:.2f} MB -> {report['weight_bytes_chosen'] / 1e6:.2f} MB; "
                 f"held-out "
                 f"rel. error max {h['rel_error_max']:.3e}"
                 + (f", top-1 agreement {h['top1_agreement']:.3f}" if "top1_agreement" in h else "")
                 + ("" if report["budget_met"] else "  (BUDGET NOT MET even with the safest choice)"))
    return "\n".join(lines)
