"""Throughput of one clone vs two clones on two Python threads (kernels release the GIL), and the RSS a
second clone adds and gives back on close().

    python benchmarks/clones.py [--models resnet18,mobilenet_v2] [--batch 24]"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _rss() -> int:
    gc.collect()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join(REPO, ".bench"))
    args = ap.parse_args(argv)
    sys.path.insert(0, REPO)
    import jitmnn
    from jitmnn.models import prepare_model, sample_input

    for model in args.models.split(","):
        _, path = prepare_model(model, args.workdir)
        m = jitmnn.load(path, num_threads=1)
        name = m.input_names[0]
        batch = [{name: sample_input(model, seed=i)} for i in range(args.batch)]
        want = [m.run(b) for b in batch[:2]]
        one, two = [], []
        with jitmnn.ClonePool(m, workers=2) as pool:
            pool.map(batch[:4])  # bind both clones' plans and arenas
            for _ in range(args.rounds):  # interleave so background load hits both alike
                t = time.perf_counter()
                for b in batch:
                    m.run(b)
                one.append(len(batch) / (time.perf_counter() - t))
                t = time.perf_counter()
                got = pool.map(batch)
                two.append(len(batch) / (time.perf_counter() - t))
            same = all((g[k] == w[k]).all() for g, w in zip(got[:2], want) for k in w)
        best1, best2 = max(one), max(two)
        print(f"{model}: 1 clone {best1:.1f}/s, 2 clones on 2 threads {best2:.1f}/s -> {best2 / best1:.2f}x "
              f"(best of {args.rounds}; medians {sorted(one)[len(one) // 2]:.1f} vs {sorted(two)[len(two) // 2]:.1f});"
              f" identical results: {same}")
        before = _rss()
        c = m.clone()
        c.run(batch[0])
        arena = c.memory_info()["arena_capacity_bytes"]
        added = _rss() - before
        c.close()
        freed = before + added - _rss()
        print(f"  second clone: arena {arena / 1e6:.1f} MB, RSS added {added / 1e6:.1f} MB, "
              f"freed by close() {freed / 1e6:.1f} MB ({freed / max(arena, 1):.0%} of its arena)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
