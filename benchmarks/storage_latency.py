"""Latency of stored weight formats x memory modes against fp32 normal, interleaved in ONE process.

    python benchmarks/storage_latency.py [--model resnet18] [--configs fp32:normal,fp32:low,int8:low,...]
                                         [--rounds 30]

The issue's bar ("int8 weights + memory=low within 1.3x of fp32 normal, one thread, same run") is a ratio,
and this VM's speed drifts by up to 1.7x over minutes. So every configuration is loaded side by side and
run in turn, round after round: each round gives a per-round ratio to the baseline run next to it, and the
median of those ratios is reported with the median latencies. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
unset for this process (they halve numpy's GEMM speed here) and threads are pinned to 1."""

from __future__ import annotations

import argparse
import os
import sys

STORAGE = {"fp32": {}, "fp16": {"fp16": True}, "bf16": {"bf16": True}, "int8": {"weight_quant_bits": 8},
           "int4": {"weight_quant_bits": 4, "block_size": 32}}
DEFAULT_CONFIGS = "fp32:normal,fp32:low,fp16:low,int8:low,int4:low,int8:normal"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="storage:memory[:precision], comma separated; "
                    "the first is the baseline")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    from timing_env import reexec_for_timing

    reexec_for_timing(threads=1)
    import time

    import numpy as np

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    import jitmnn
    from jitmnn.models import prepare_model, sample_input

    workdir = args.workdir or os.path.join(os.path.dirname(here), ".bench")
    x = sample_input(args.model)
    configs = [c.split(":") for c in args.configs.split(",")]
    mods = []
    for c in configs:
        storage, memory = c[0], c[1]
        precision = c[2] if len(c) > 2 else "normal"
        _, path = prepare_model(args.model, workdir, **STORAGE[storage])
        m = jitmnn.load(path, memory=memory, precision=precision, num_threads=1)
        feed = {m.input_names[0]: x}
        for _ in range(3):
            m.run(feed)
        mods.append((":".join(c), m, feed, os.path.getsize(path)))
    times = np.zeros((args.rounds, len(mods)))
    for r in range(args.rounds):
        for i, (_, m, feed, _) in enumerate(mods):
            t = time.perf_counter()
            m.run(feed)
            times[r, i] = time.perf_counter() - t
    base = times[:, 0]
    print(f"{args.model}, 1 thread, {args.rounds} interleaved rounds (BLAS env unset for this run)")
    print(f"{'config':<22}{'file MB':>9}{'median ms':>11}{'min ms':>9}{'ratio (median of per-round)':>30}")
    for i, (name, m, _, size) in enumerate(mods):
        ratio = float(np.median(times[:, i] / base))
        print(f"{name:<22}{size / 1e6:>9.1f}{np.median(times[:, i]) * 1e3:>11.1f}{times[:, i].min() * 1e3:>9.1f}"
              f"{ratio:>30.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
