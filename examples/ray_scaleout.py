"""Scale-out on a local Ray cluster: a zoo model through `Dataset.map_batches(JitmnnPredictor)` with 1 and 2
actors; throughput, and each actor's RSS next to its PSS to show that the memory-mapped weights are shared.

    python examples/ray_scaleout.py                         # MobileNetV2, 256 images, memory=low, 1 and 2 actors
    python examples/ray_scaleout.py --model resnet18 --rows 128 --memory normal

Needs the ray extra (`pip install 'jitmnn[ray]'`). Every actor opens the same .jmnn file; its weights are views
into one memory map, so the page cache holds them once: RSS counts the mapped pages an actor has touched in
full, PSS divides each page among the processes that map it. With 2 actors the weight file's PSS per actor is
about half its RSS. Weights an algorithm repacks are private copies (memory="normal" makes some; memory="low"
avoids large ones), so memory="low" shares the most. Throughput is given twice: over the whole map_batches
call (actor start, model load and the first run's kernel loading included) and over the steady part (from the
moment every actor had finished a batch). Memory is read afterwards from as many plain Ray actors (MemoryProbe,
a remote method returning psutil's figures), each after running one batch, so the timed pass does not pay for
reading /proc. On a machine shared with other work, read the numbers as indicative."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from jitmnn.ray import JitmnnPredictor

MB = 1024.0 * 1024.0


class TimedPredictor(JitmnnPredictor):
    """JitmnnPredictor plus two columns: which actor ran each row and when its batch ended."""

    def __call__(self, batch: dict) -> dict:
        out = super().__call__(batch)
        n = len(next(iter(out.values())))
        out["pid"] = np.full(n, os.getpid())
        out["batch_end"] = np.full(n, time.time())
        return out


class MemoryProbe:
    """A plain Ray actor holding a JitmnnPredictor: runs one batch, then reports its process's memory. Reading
    /proc/<pid>/smaps takes ~30 ms, so it is kept out of the timed map_batches pass; and every probe has run
    before any measures, so each sees the weight pages the others touched."""

    def __init__(self, path: str, **settings):
        self.predictor = JitmnnPredictor(path, **settings)
        self.path = os.path.realpath(path)

    def run(self, batch: dict) -> int:
        self.predictor(batch)
        return os.getpid()

    def memory(self) -> dict:
        import psutil

        proc = psutil.Process()
        full = proc.memory_full_info()
        weights = [m for m in proc.memory_maps(grouped=True) if os.path.realpath(m.path) == self.path]
        return {"pid": proc.pid, "rss": full.rss / MB, "pss": full.pss / MB, "uss": full.uss / MB,
                "weights_rss": sum(m.rss for m in weights) / MB, "weights_pss": sum(m.pss for m in weights) / MB}


def throughput(ray, jmnn: str, x: np.ndarray, actors: int, batch_size: int, settings: dict) -> dict:
    """One map_batches pass on a fixed pool of `actors` actors: rows/s over the whole call and when warm."""
    blocks = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]  # one batch per block: spreads evenly
    ds = ray.data.from_numpy(blocks)
    t = time.time()
    out = ds.map_batches(TimedPredictor, fn_constructor_kwargs={"path": jmnn, **settings},
                         compute=ray.data.ActorPoolStrategy(size=actors), batch_size=batch_size, num_cpus=1,
                         batch_format="numpy").take_batch(len(x), batch_format="numpy")
    wall = time.time() - t
    pids, ends = out["pid"], out["batch_end"]
    steady_from = max(ends[pids == p].min() for p in set(pids.tolist()))  # every actor is warm from here on
    steady_rows = int((ends > steady_from).sum())
    steady_s = ends.max() - steady_from
    return {"actors": actors, "rows": len(pids), "wall_s": wall, "rows_per_s": len(pids) / wall,
            "steady_rows_per_s": steady_rows / steady_s if steady_s > 0 and steady_rows else None,
            "rows_per_actor": sorted(np.unique(pids, return_counts=True)[1].tolist(), reverse=True)}


def memory(ray, jmnn: str, x: np.ndarray, actors: int, batch_size: int, settings: dict) -> list:
    """Each of `actors` probe actors runs one batch; then all report RSS/PSS."""
    probe = ray.remote(num_cpus=1)(MemoryProbe)
    probes = [probe.remote(jmnn, **settings) for _ in range(actors)]
    try:
        ray.get([p.run.remote({"data": x[:batch_size]}) for p in probes])
        return ray.get([p.memory.remote() for p in probes])
    finally:
        for p in probes:
            ray.kill(p)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="mobilenet_v2", help="zoo model (jitmnn.models.ZOO), e.g. resnet18, ppocr_rec")
    p.add_argument("--rows", type=int, default=256, help="number of inputs")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--memory", choices=("low", "normal", "high"), default="low")
    p.add_argument("--precision", choices=("low", "normal", "high"), default="normal")
    p.add_argument("--actors", default="1,2", help="actor counts to run, comma separated")
    args = p.parse_args(argv)

    # A local cluster in Ray's single-machine mode (its default on macOS/Windows): Ray's processes listen on
    # 127.0.0.1 only, not on this machine's network address. Read when ray is imported.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    from jitmnn.models import entry, prepare_model, sample_input

    with tempfile.TemporaryDirectory(prefix="jitmnn-ray-") as tmp:
        print(f"converting {args.model} into {tmp} ...", flush=True)
        _, jmnn = prepare_model(args.model, tmp)
        shape = entry(args.model).input_shape[1:]
        x = np.concatenate([sample_input(args.model, (1, *shape), seed=i) for i in range(args.rows)])
        settings = {"memory": args.memory, "precision": args.precision, "num_threads": 1}
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            results = []
            for actors in (int(a) for a in args.actors.split(",")):
                r = throughput(ray, jmnn, x, actors, args.batch_size, settings)
                r["per_actor"] = memory(ray, jmnn, x, actors, args.batch_size, settings)
                results.append(r)
        finally:
            ray.shutdown()
        print_table(args, os.path.getsize(jmnn), results)
    return 0


def print_table(args, file_bytes: int, results: list) -> None:
    print(f"\n{args.model}: {args.rows} inputs of batch {args.batch_size}, memory={args.memory}, precision="
          f"{args.precision}, num_threads=1 per actor, .jmnn {file_bytes / MB:.1f} MB; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    print(f"{'actors':>6} {'wall s':>7} {'rows/s':>7} {'steady rows/s':>13} {'rows per actor':>14} | {'RSS MB':>7} "
          f"{'PSS MB':>7} {'USS MB':>7} {'weights RSS':>11} {'weights PSS':>11}")
    for r in results:
        steady = f"{r['steady_rows_per_s']:.1f}" if r["steady_rows_per_s"] else "-"
        split = "/".join(str(n) for n in r["rows_per_actor"])
        for i, a in enumerate(r["per_actor"]):
            head = (f"{r['actors']:>6} {r['wall_s']:>7.2f} {r['rows_per_s']:>7.1f} {steady:>13} {split:>14}" if i == 0
                    else " " * 51)
            print(f"{head} | {a['rss']:>7.1f} {a['pss']:>7.1f} {a['uss']:>7.1f} {a['weights_rss']:>11.1f} "
                  f"{a['weights_pss']:>11.1f}")
    if len(results) > 1 and results[0]["steady_rows_per_s"] and results[-1]["steady_rows_per_s"]:
        print(f"steady throughput {results[-1]['actors']} vs {results[0]['actors']} actors: "
              f"x{results[-1]['steady_rows_per_s'] / results[0]['steady_rows_per_s']:.2f}")
    print("memory: one probe actor per row, each after running one batch; weights = the mapping of the .jmnn file")


if __name__ == "__main__":
    sys.exit(main())
