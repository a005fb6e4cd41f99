"""The main job, end to end: convert a zoo model, run it under each memory and precision mode (and each
stored weight format), and print latency, memory and the algorithms chosen, next to ONNX Runtime.

    python -m jitmnn.demo [--model resnet18] [--runs 10] [--threads 1] [--workdir .demo]"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

MODES = [("normal", "normal"), ("normal", "low"), ("normal", "high"), ("high", "normal"), ("low", "normal"),
         ("low", "low")]
STORAGE = [("fp32", {}), ("fp16", {"fp16": True}), ("int8", {"weight_quant_bits": 8}),
           ("int4-b32", {"weight_quant_bits": 4, "block_size": 32})]


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _ort(onnx_path, x, threads, runs):
    try:
        import onnxruntime as ort
    except ImportError:
        return None, None
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.run(None, {name: x})[0]
    return out, _median_ms(lambda: sess.run(None, {name: x}), runs)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default=".demo")
    args = ap.parse_args(argv)

    import jitmnn
    from jitmnn.models import prepare_model, sample_input

    print(f"== jitmnn demo: {args.model}, {args.threads} thread(s), median of {args.runs} runs ==")
    x = sample_input(args.model)
    onnx_path, _ = prepare_model(args.model, args.workdir)
    ref, ort_ms = _ort(onnx_path, x, args.threads, args.runs)
    if ref is not None:
        print(f"ONNX Runtime: {ort_ms:.2f} ms")
    rows = []
    for label, options in STORAGE:
        try:
            _, path = prepare_model(args.model, args.workdir, **options)
        except jitmnn.JitmnnError as e:
            print(f"[{label}] conversion not available: {e}")
            continue
        size_mb = os.path.getsize(path) / 1e6
        for precision, memory in MODES:
            rss0 = _rss_mb()
            m = jitmnn.load(path, precision=precision, memory=memory, num_threads=args.threads)
            name = m.input_names[0]
            t0 = time.perf_counter()
            out = m.run({name: x})[m.output_names[0]]
            first_ms = (time.perf_counter() - t0) * 1e3
            ms = _median_ms(lambda: m.run({name: x}), args.runs)
            info = m.memory_info()
            err = float(np.max(np.abs(out - ref)) / max(1.0, np.max(np.abs(ref)))) if ref is not None else float("nan")
            plan = m.explain().plan
            acts = plan.activation_tensors()
            half = f"{sum(t.storage is not None for t in acts)}/{len(acts)}"
            rows.append((label, size_mb, precision, memory, first_ms, ms, info, _rss_mb() - rss0, err, half,
                         plan.algorithm_counts()))
            m.close()
    print()
    hdr = (f"{'weights':<9}{'file MB':>8} {'prec':<7}{'memory':<7}{'first ms':>9}{'ms':>8}{'x ORT':>7}"
           f"{'expanded MB':>12}{'arena MB':>9}{'fp16 acts':>10}{'RSS+ MB':>8}{'rel err':>9}")
    print(hdr)
    print("-" * len(hdr))
    for label, size_mb, prec, mem, first_ms, ms, info, drss, err, half, _ in rows:
        ratio = f"{ms / ort_ms:.2f}" if ort_ms else "-"
        print(f"{label:<9}{size_mb:>8.1f} {prec:<7}{mem:<7}{first_ms:>9.0f}{ms:>8.2f}{ratio:>7}"
              f"{info['weights_expanded_bytes'] / 1e6:>12.1f}{info['arena_high_water_bytes'] / 1e6:>9.1f}"
              f"{half:>10}{drss:>8.1f}{err:>9.1e}")
    print("\n(first ms includes planning and loading/compiling kernels; RSS+ is measured within one process,\n"
          " so later rows reuse kernels earlier rows loaded; fp16 acts: activation tensors stored fp16, which\n"
          " precision=low does wherever every kernel touching them can)")
    print("\nalgorithms chosen per configuration:")
    for label, _, prec, mem, *_rest, algs in rows:
        print(f"  {label:<9}precision={prec:<7}memory={mem:<7}" + ", ".join(f"{k} x{v}" for k, v in sorted(algs.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
