"""Calibrate, convert and measure: file size vs fp32 and accuracy vs fp32 on held-out inputs for the zoo
models the quantization issue names (ResNet-18, PP-OCRv4 det), plus a mixed-precision choice.

    python benchmarks/quant_report.py [--samples 100] [--heldout 10] [--models resnet18,ppocr_det]

Calibration inputs are seeds 0..N-1 of jitmnn.models.sample_input (ResNet: normalised-image-range noise,
seeded weights; PP-OCR det: synthetic text pages), held-out inputs seeds 10000+; so "accuracy" is agreement
with the fp32 model, not task accuracy (no labelled data ships with the zoo)."""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import jitmnn
import jitmnn.quant as Q
from jitmnn.models import prepare_model, sample_input
from jitmnn.quant.sensitivity import format_choice

BUDGETS = {"resnet18": {"max_rel_error": 0.05, "min_top1": 0.99}, "ppocr_det": {"max_rel_error": 0.05}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--heldout", type=int, default=10)
    ap.add_argument("--models", default="resnet18,ppocr_det")
    ap.add_argument("--mixed", action="store_true", help="also choose mixed precision under BUDGETS")
    ap.add_argument("--sensitivity", choices=("estimate", "measured"), default="measured")
    ap.add_argument("--skip-int8", action="store_true", help="only the mixed-precision part")
    ap.add_argument("--work", default="/tmp/jitmnn_quant_report")
    args = ap.parse_args()
    results = {}
    for name in args.models.split(","):
        src, fp32 = prepare_model(name, args.work)
        calib = (sample_input(name, seed=i) for i in range(args.samples))
        heldout = [sample_input(name, seed=10000 + i) for i in range(args.heldout)]
        r = {}
        if not args.skip_int8:
            r = int8_report(name, src, fp32, calib, heldout, args)
        if args.mixed:
            mixed = os.path.join(args.work, f"{name}.mixed.json")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Q.CalibrationWarning)
                _, rep = Q.choose_precision(src, (sample_input(name, seed=i) for i in range(args.samples)),
                                            heldout, samples=args.samples, out=mixed,
                                            sensitivity=args.sensitivity, **BUDGETS[name])
            print(format_choice(rep))
            qm = os.path.join(args.work, f"{name}.mixed.jmnn")
            jitmnn.convert(src, qm, compression_params=mixed)
            r["mixed"] = {"budget": BUDGETS[name], "counts": rep["counts"], "budget_met": rep["budget_met"],
                          "sensitivity": args.sensitivity, "ratio": os.path.getsize(qm) / os.path.getsize(fp32),
                          "vs_fp32": Q.compare(fp32, qm, heldout), "evaluations": len(rep["tried"])}
        results[name] = r
        print(name, json.dumps(r, indent=1), flush=True)
    return results


def int8_report(name, src, fp32, calib, heldout, args):
    params = os.path.join(args.work, f"{name}.params.json")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        Q.calibrate(src, calib, samples=args.samples, out=params)
    t_cal = time.perf_counter() - t0
    q = os.path.join(args.work, f"{name}.params.jmnn")
    jitmnn.convert(src, q, compression_params=params)
    plain8 = os.path.join(args.work, f"{name}.minmax8.jmnn")
    jitmnn.convert(src, plain8, weight_quant_bits=8)
    r = {"calibration_s": t_cal, "samples": args.samples,
         "fp32_bytes": os.path.getsize(fp32), "int8_bytes": os.path.getsize(q),
         "ratio": os.path.getsize(q) / os.path.getsize(fp32),
         "ratio_vs_onnx": os.path.getsize(q) / os.path.getsize(src),
         "plain_int8_ratio": os.path.getsize(plain8) / os.path.getsize(fp32),
         "calibrated_int8_vs_fp32": Q.compare(fp32, q, heldout),
         "plain_int8_vs_fp32": Q.compare(fp32, plain8, heldout)}
    return r


if __name__ == "__main__":
    main()
