"""RSS added by load + first run, in a process that has already run the same kernels once (the issues'
protocol: the one-time cost of loading compiled kernels is reported separately, not charged to a model).

    python benchmarks/memory.py [--models resnet18,mobilenet_v2,ppocr_det] [--storage fp32,fp16,int8,int4]
                                [--modes low,normal,high] [--json out.json]

Each configuration runs in a fresh subprocess: (1) import jitmnn, load the model, run it once on a small
input, close it and drop it -- this loads every kernel the configuration uses; (2) RSS before; load, run once
at the real input size; RSS after; then a median latency over a few runs. RSS is /proc VmRSS (file-backed
weight pages that were touched count, as they do for every runtime).

The worker runs with glibc's mmap threshold fixed at 128 KB (MALLOC_MMAP_THRESHOLD_): by default glibc raises
the threshold after a large free, so step (2) re-used heap pages freed in step (1) and RSS under-counted a
reload (ResNet-18 fp32 at precision=low read 8 MB added instead of 27). Fixed, every large buffer is its own
mapping, freed on free and counted when made again. It slows the hot path (page faults on each temporary), so
the ms column here is not a latency benchmark: use bench.py or storage_latency.py for that."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STORAGE = {"fp32": {}, "fp16": {"fp16": True}, "int8": {"weight_quant_bits": 8},
           "int4": {"weight_quant_bits": 4, "block_size": 32}}
SMALL = {"resnet18": None, "resnet50": None, "mobilenet_v2": None, "ppocr_det": (1, 3, 160, 160),
         "ppocr_rec": (1, 3, 48, 80), "ppocr_cls": (1, 3, 48, 96)}

WORKER = r"""
import gc, json, statistics, sys, time
import numpy as np
spec = json.loads(sys.argv[1])
def rss():
    gc.collect()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
import jitmnn
from jitmnn.models import sample_input
x = sample_input(spec["model"])
small = sample_input(spec["model"], shape=spec["small"]) if spec["small"] else x
settings = dict(memory=spec["memory"], precision=spec["precision"], num_threads=1)
m = jitmnn.load(spec["path"], **settings)
name = m.input_names[0]
m.run({name: small}); m.close(); del m; gc.collect()
r0 = rss()
t0 = time.perf_counter()
m = jitmnn.load(spec["path"], **settings)
r_load = rss()
m.run({name: x})
first = time.perf_counter() - t0
r1 = rss()
ts = []
for _ in range(spec["runs"]):
    t = time.perf_counter(); m.run({name: x}); ts.append(time.perf_counter() - t)
info = m.memory_info()
print(json.dumps({"rss_added": r1 - r0, "rss_load": r_load - r0, "first_s": first, "median_ms": statistics.median(ts) * 1e3,
                  "arena": info["arena_high_water_bytes"], "expanded": info["weights_expanded_bytes"],
                  "winograd": m.explain().count("winograd"), "hybrid": m.explain().count("hybrid")}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet18,mobilenet_v2,ppocr_det")
    ap.add_argument("--storage", default="fp32,fp16,int8,int4")
    ap.add_argument("--modes", default="low,normal,high")
    ap.add_argument("--precision", default="normal")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--workdir", default=os.path.join(REPO, ".bench"))
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    sys.path.insert(0, REPO)
    from jitmnn.models import prepare_model
    from timing_env import timing_env

    env = dict(timing_env(1), MALLOC_MMAP_THRESHOLD_="131072")
    print(f"RSS added = after load + first run minus before load, after the same kernels ran once "
          f"(precision={args.precision}; OPENBLAS_CORETYPE/L2_SIZE unset; glibc mmap threshold fixed, so ms is "
          f"not a latency benchmark)")
    print(f"{'model':<13}{'weights':<8}{'memory':<8}{'file MB':>8}{'RSS+ MB':>9}{'load MB':>8}{'arena MB':>9}"
          f"{'expand MB':>10}{'ms':>8}{'wino':>5}{'hyb':>5}")
    rows = []
    for model in args.models.split(","):
        for storage in args.storage.split(","):
            _, path = prepare_model(model, args.workdir, **STORAGE[storage])
            size = os.path.getsize(path)
            for memory in args.modes.split(","):
                spec = {"model": model, "path": path, "memory": memory, "precision": args.precision,
                        "small": SMALL.get(model), "runs": args.runs}
                p = subprocess.run([sys.executable, "-c", WORKER, json.dumps(spec)], capture_output=True,
                                   text=True, env=env, cwd=REPO)
                if p.returncode:
                    print(f"{model:<13}{storage:<8}{memory:<8} FAILED: {p.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(p.stdout.strip().splitlines()[-1])
                r.update(model=model, storage=storage, memory=memory, file_bytes=size)
                rows.append(r)
                print(f"{model:<13}{storage:<8}{memory:<8}{size / 1e6:>8.1f}{r['rss_added'] / 1e6:>9.1f}"
                      f"{r['rss_load'] / 1e6:>8.1f}{r['arena'] / 1e6:>9.1f}{r['expanded'] / 1e6:>10.1f}"
                      f"{r['median_ms']:>8.1f}{r['winograd']:>5}{r['hybrid']:>5}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
