"""Side-by-side latency and memory: jitmnn vs ONNX Runtime (and MNN when `import MNN` works), one invocation.

    python benchmarks/bench.py                                  # resnet18, mobilenet_v2, ppocr_det; 1 and 2 threads
    python benchmarks/bench.py --models resnet50 --threads 1 --modes normal,low,high --json out.json
    python benchmarks/bench.py --startup                        # import cost, warm start, cold compile

Every configuration runs in a FRESH process (benchmarks/worker.py; JSON on its last stdout line), so load
time, first-run time and RSS are what a new user process pays, and no runtime's allocations or threads leak
into another's numbers. Per configuration: load time, first run (jitmnn: planning + kernel compile or cache
load), median latency over >= 20 runs and >= 1 s after 3 warm-ups, RSS before load / after load / after the
first run and the peak (VmHWM), output error vs ORT, and how much CPU other processes used meanwhile.

Compare ratios measured in the same invocation, not absolute numbers across runs (shared/ANCHORS.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "worker.py")
DEFAULT_MODELS = ("resnet18", "mobilenet_v2", "ppocr_det")
sys.path.insert(0, HERE)  # benchmarks/ is a folder of scripts; this one may be loaded by path (jitmnn bench)
from timing_env import timing_env  # noqa: E402  (the BLAS variables: unset in the timing subprocesses only)

ENV_HEADER = ("timing subprocesses run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (as set on these "
              "machines they force OpenBLAS's Haswell kernel and halve numpy's SGEMM speed); NUMBA_NUM_THREADS, "
              "OMP/OPENBLAS_NUM_THREADS = the thread count of the configuration")


# ----- subprocesses ---------------------------------------------------------------------------------------
def spawn(spec: dict, env: dict, python: str = sys.executable, timeout: float = 1800.0) -> dict:
    """Run one worker; its result dict (plus wall time), or {"error": ...} with the tail of its stderr."""
    t = time.perf_counter()
    try:
        p = subprocess.run([python, WORKER, json.dumps(spec)], capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip()][-4:]
        return {"error": " | ".join(tail) or f"exit code {p.returncode}", "process_wall_s": wall}
    res = json.loads(lines[-1])
    res["process_wall_s"] = wall
    return res


def machine_busy(interval: float = 0.5) -> float:
    """Cores busy over `interval` seconds (this parent process is idle meanwhile, so all of it is others')."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return time.perf_counter(), v[0] + v[1] + v[2] + v[5] + v[6]
    a = snap()
    time.sleep(interval)
    b = snap()
    return (b[1] - a[1]) / (os.sysconf("SC_CLK_TCK") * max(b[0] - a[0], 1e-9))


def wait_quiet(max_wait: float, threshold: float) -> float:
    """Wait (up to max_wait s) until other processes use less than `threshold` cores; returns the last load."""
    deadline = time.perf_counter() + max_wait
    busy = machine_busy()
    while busy > threshold and time.perf_counter() < deadline:
        busy = machine_busy()
    return busy


def measure(spec: dict, env: dict, python: str, args) -> dict:
    """One configuration: wait for a quiet machine, run; re-run while other processes used more than
    --busy-threshold cores during the timing (keeping the least disturbed attempt)."""
    attempts = []
    for _ in range(1 + max(0, args.retries)):
        if args.quiet_wait > 0:
            wait_quiet(args.quiet_wait, args.busy_threshold)
        r = spawn(spec, env, python, args.timeout)
        attempts.append(r)
        if "error" in r or (r.get("foreign_cores") or 0.0) <= args.busy_threshold:
            break
    ok = [r for r in attempts if "error" not in r]
    best = min(ok, key=lambda r: r.get("foreign_cores") or 0.0) if ok else attempts[-1]
    best["attempts"] = len(attempts)
    return best


def probe_mnn(python: str) -> tuple[bool, str]:
    p = subprocess.run([python, "-c", "import MNN; print(MNN.version())"], capture_output=True, text=True)
    if p.returncode == 0:
        return True, f"MNN {p.stdout.strip()} ({python})"
    return False, (f"MNN not installed for {python} (`import MNN` fails): MNN columns skipped. Reference MNN "
                   "numbers for the same models are in shared/ANCHORS.md; to measure it here, install MNN in its "
                   "own venv (its converter pins protobuf 5, which breaks onnx) and pass --mnn-python.")


def convert_mnn(python: str, onnx_path: str, dst: str) -> str | None:
    """ONNX -> .mnn with MNN's converter entry point (the `mnnconvert` wrapper adds a telemetry upload)."""
    if os.path.exists(dst):
        return dst
    cmd = [python, "-c", "import sys, _tools; _tools.mnnconvert(sys.argv)", "-f", "ONNX", "--modelFile", onnx_path,
           "--MNNModel", dst, "--bizCode", "bench"]
    subprocess.run(cmd, capture_output=True, text=True)
    return dst if os.path.exists(dst) else None  # the converter exits 0 even when it fails


# ----- preparation ----------------------------------------------------------------------------------------
def prepare(models, workdir: str, force: bool, log) -> dict:
    """ONNX file, .jmnn (converted from that same file), input .npy for each model."""
    import numpy as np

    from jitmnn.models import onnx_path, prepare_model, sample_input

    out = {}
    for name in models:
        item = {"name": name}
        try:
            item["onnx"] = onnx_path(name, workdir)
        except Exception as e:  # a missing package (PP-OCR) skips the model, with the reason
            item["error"] = f"{type(e).__name__}: {e}"
            out[name] = item
            log(f"  {name}: skipped: {item['error']}")
            continue
        x = sample_input(name, seed=0)
        item["input"] = os.path.join(workdir, f"{name}.input.npy")
        item["input_shape"] = list(x.shape)
        np.save(item["input"], x)
        t = time.perf_counter()
        try:
            item["jmnn"] = prepare_model(name, workdir, force=force)[1]
            item["convert_s"] = time.perf_counter() - t
            item["jmnn_bytes"] = os.path.getsize(item["jmnn"])
        except Exception as e:
            item["jmnn_error"] = f"{type(e).__name__}: {e}"
        item["onnx_bytes"] = os.path.getsize(item["onnx"])
        log(f"  {name}: input {tuple(x.shape)}, onnx {item['onnx_bytes'] / 1e6:.1f} MB"
            + (f", jmnn {item['jmnn_bytes'] / 1e6:.1f} MB (converted in {item['convert_s']:.1f} s)"
               if "jmnn" in item else f", jitmnn conversion FAILED: {item['jmnn_error']}"))
        out[name] = item
    return out


def output_error(path: str, ref_path: str) -> float | None:
    """max|diff| / max|ref| over the first output (same bar as tests/test_models_vs_ort.py)."""
    import numpy as np

    if not (path and ref_path and os.path.exists(path) and os.path.exists(ref_path)):
        return None
    with np.load(path) as a, np.load(ref_path) as b:
        got, ref = a["arr_0"].astype(np.float64), b["arr_0"].astype(np.float64)
    if got.size != ref.size:
        return float("inf")
    return float(np.abs(got.reshape(ref.shape) - ref).max() / max(np.abs(ref).max(), 1e-30))


def _median_of(results: list) -> dict:
    """Several processes of one configuration: keep the one with the median latency, record the spread."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[-1]
    ok.sort(key=lambda r: r["median_ms"])
    best = dict(ok[len(ok) // 2])
    if len(ok) > 1:
        best["process_medians_ms"] = [r["median_ms"] for r in ok]
    return best


# ----- the side-by-side table -----------------------------------------------------------------------------
def bench_models(args, prepared: dict, log) -> list:
    rows = []
    mnn_ok = args.mnn_ok
    for name, item in prepared.items():
        if "error" in item:
            rows.append({"model": name, "runtime": "-", "error": item["error"]})
            continue
        ref_out = os.path.join(args.workdir, f"{name}.ort.t1.out.npz")
        mnn_file = None
        if mnn_ok:
            mnn_file = convert_mnn(args.mnn_python, item["onnx"], os.path.join(args.workdir, f"{name}.mnn"))
        for threads in args.threads:
            configs = [("ort", "-", item["onnx"], sys.executable)]
            for mode in args.modes:
                configs.append(("jitmnn", mode, item.get("jmnn"), sys.executable))
            if mnn_ok:
                for mode in args.mnn_modes:
                    configs.append(("mnn", mode, mnn_file, args.mnn_python))
            # Rounds interleave the runtimes (ORT, jitmnn normal, jitmnn low, ORT, ...), so a burst of load
            # from other processes lands on all of them rather than on one, and the ratios stay fair.
            pending, results = [], {}
            for runtime, mode, model_file, python in configs:
                if model_file is None:
                    continue  # reported as an error row below
                row = {"model": name, "threads": threads, "runtime": runtime, "mode": mode}
                out = ref_out if (runtime == "ort" and threads == 1) else \
                    os.path.join(args.workdir, f"{name}.{runtime}.{mode.replace('/', '+')}.t{threads}.out.npz")
                memory, _, precision = (mode if mode != "-" else "normal").partition("/")
                spec = {"task": "run", "runtime": runtime, "model": model_file, "input": item["input"],
                        "threads": threads, "memory": memory, "precision": precision or "normal", "runs": args.runs,
                        "min_time": args.min_time, "max_time": args.max_time, "warmup": 3, "out": out}
                if runtime == "jitmnn" and args.warm_cache:
                    # untimed: make sure "first run" measures a warm Numba cache, not this machine's first compile
                    spawn({**spec, "task": "startup", "out": None}, timing_env(threads), python, args.timeout)
                pending.append((row, spec, python))
            for _ in range(max(1, args.repeat)):
                for row, spec, python in pending:
                    results.setdefault(id(row), []).append(measure(spec, timing_env(threads), python, args))
            ort_median = ort_min = None
            # reference output: ORT at 1 thread, or this group's ORT run when 1 thread was not measured
            ref = ref_out if os.path.exists(ref_out) else next(
                (sp["out"] for r, sp, _ in pending if r["runtime"] == "ort"), None)
            for row, spec, _ in pending:
                row.update(_median_of(results[id(row)]))
                if "error" not in row:
                    out = spec["out"]
                    row["err_vs_ort"] = 0.0 if out == ref else output_error(out, ref)
                    if row["runtime"] == "ort":
                        ort_median, ort_min = row["median_ms"], row["min_ms"]
                    if ort_median:
                        # the min is the robust one on a shared machine: contention only ever adds time
                        row["ratio_vs_ort"] = row["median_ms"] / ort_median
                        row["ratio_min_vs_ort"] = row["min_ms"] / ort_min
                    row["disturbed"] = (row.get("foreign_cores") or 0.0) > args.busy_threshold
            for runtime, mode, _, _ in configs:
                row = next((r for r, _, _ in pending if r["runtime"] == runtime and r["mode"] == mode), None)
                if row is None:
                    row = {"model": name, "threads": threads, "runtime": runtime, "mode": mode,
                           "error": item.get("jmnn_error", "no model file") if runtime == "jitmnn"
                           else "MNN conversion failed"}
                rows.append(row)
                log(_row_line(row))
    return rows


def _f(v, fmt="{:.1f}", none="-"):
    return none if v is None else fmt.format(v)


HEADER = (f"{'model':<13} {'T':>1} {'runtime':<15} {'load ms':>8} {'1st ms':>8} {'median':>8} {'min':>7} "
          f"{'x ORT med/min':>13} | {'RSS MB before':>13} {'load':>5} {'1st':>5} {'peak':>5} | {'err vs ORT':>10} "
          f"{'foreign':>7}")


def _row_line(r: dict) -> str:
    label = r["runtime"] if r.get("mode", "-") == "-" else f"{r['runtime']} {r['mode']}"
    head = f"{r['model']:<13} {r.get('threads', ''):>1} {label:<15}"
    if "error" in r:
        return f"{head} ERROR: {r['error'][:200]}"
    return (f"{head} {r['load_ms']:>8.1f} {r['first_ms']:>8.1f} {r['median_ms']:>8.2f} {r['min_ms']:>7.2f} "
            f"{_f(r.get('ratio_vs_ort'), '{:.2f}'):>6}/{_f(r.get('ratio_min_vs_ort'), '{:.2f}'):<6} | "
            f"{r['rss_before_load_mb']:>13.0f} {r['rss_after_load_mb']:>5.0f} "
            f"{r['rss_after_first_mb']:>5.0f} {r['peak_rss_mb']:>5.0f} | {_f(r.get('err_vs_ort'), '{:.1e}'):>10} "
            f"{_f(r.get('foreign_cores'), '{:.2f}'):>6}{'!' if r.get('disturbed') else ' '}")


# ----- startup: import, warm start, cold compile ----------------------------------------------------------
def bench_startup(args, prepared: dict, log) -> dict:
    name = args.startup_model
    item = prepared.get(name) or {}
    res: dict = {"model": name}
    reps = max(3, args.repeat)
    env1 = timing_env(1)

    def med(results, key):
        vals = [r[key] for r in results if "error" not in r and r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def spawn(spec, env, timeout):  # startup numbers are wall times: take them on a quiet machine too
        if args.quiet_wait > 0:
            wait_quiet(args.quiet_wait, args.busy_threshold)
        return globals()["spawn"](spec, env, timeout=timeout)

    for runtime in ("jitmnn", "ort"):
        runs = [spawn({"task": "import", "runtime": runtime}, env1, timeout=args.timeout) for _ in range(reps)]
        ok = [r for r in runs if "error" not in r]
        res[f"import_{runtime}"] = {
            "import_s": med(runs, "import_s"), "process_wall_s": med(runs, "process_wall_s"),
            "rss_before_mb": med(runs, "rss_before_import_mb"), "rss_after_mb": med(runs, "rss_after_import_mb"),
            "numba_imported": ok[0].get("numba_imported") if ok else None,
            "error": None if ok else runs[-1].get("error")}
        r = res[f"import_{runtime}"]
        log(f"import {runtime:<7}: {_f(r['import_s'] and r['import_s'] * 1e3)} ms, "
            f"RSS {_f(r['rss_before_mb'], '{:.0f}')} -> {_f(r['rss_after_mb'], '{:.0f}')} MB "
            f"(process wall {_f(r['process_wall_s'], '{:.2f}')} s)"
            + (f", imports numba: {r['numba_imported']}" if runtime == "jitmnn" else "")
            + (f" ERROR {r['error']}" if r["error"] else ""))
    if "jmnn" not in item:
        res["error"] = item.get("jmnn_error") or item.get("error") or f"{name} not prepared"
        log(f"startup: {res['error']}")
        return res
    spec = {"task": "startup", "runtime": "jitmnn", "model": item["jmnn"], "input": item["input"], "threads": 1}
    cache = tempfile.mkdtemp(prefix="jitmnn-numba-cache-")
    try:
        cold = spawn(spec, timing_env(1, cache), timeout=args.timeout)
        warm = [spawn(spec, timing_env(1, cache), timeout=args.timeout) for _ in range(reps)]
        cache_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache) for f in fs)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    ort_runs = [spawn({**spec, "runtime": "ort", "model": item["onnx"]}, env1, timeout=args.timeout)
                for _ in range(reps)]
    keys = ("import_s", "load_s", "first_run_s", "second_run_s", "import_to_first_result_s", "process_wall_s",
            "rss_after_import_mb", "rss_after_load_mb", "rss_after_first_mb", "peak_rss_mb")
    res["cold_compile"] = {k: cold.get(k) for k in keys} | ({"error": cold["error"]} if "error" in cold else {})
    res["cold_compile"]["numba_cache_bytes"] = cache_bytes
    res["warm_start"] = {k: med(warm, k) for k in keys}
    res["ort_start"] = {k: med(ort_runs, k) for k in keys}
    for label in ("cold_compile", "warm_start", "ort_start"):
        r = res[label]
        if r.get("error"):
            log(f"{label:<13}: ERROR {r['error']}")
            continue
        log(f"{label:<13}: import {_f(r['import_s'], '{:.2f}')} s, load {_f(r['load_s'], '{:.2f}')} s, "
            f"first run {_f(r['first_run_s'], '{:.2f}')} s, "
            f"second {_f(r['second_run_s'] and r['second_run_s'] * 1e3)} ms;"
            f" process wall {_f(r['process_wall_s'], '{:.2f}')} s; RSS after first run "
            f"{_f(r['rss_after_first_mb'], '{:.0f}')} MB, peak {_f(r['peak_rss_mb'], '{:.0f}')} MB")
    log(f"cold compile wrote {cache_bytes / 1e6:.1f} MB of Numba cache")
    return res


# ----- entry point ----------------------------------------------------------------------------------------
def machine_info() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
        info["loadavg"] = os.getloadavg()
    except OSError:
        pass
    return info


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jitmnn bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    csv = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    p.add_argument("--models", type=csv, default=list(DEFAULT_MODELS),
                   help="comma list from the zoo (resnet18,resnet50,mobilenet_v2,ppocr_det,ppocr_rec,ppocr_cls)")
    p.add_argument("--threads", type=lambda s: [int(x) for x in csv(s)], default=[1, 2])
    p.add_argument("--modes", type=csv, default=["normal", "low"],
                   help="jitmnn memory modes, or memory/precision (e.g. normal/low: memory normal, precision low)")
    p.add_argument("--mnn-modes", type=csv, default=["normal", "low"], help="MNN memory modes (when MNN imports)")
    p.add_argument("--mnn-python", default=sys.executable, help="python of a venv with MNN installed")
    p.add_argument("--runs", type=int, default=20, help="at least this many timed runs ...")
    p.add_argument("--min-time", type=float, default=1.0, help="... and at least this many seconds of them")
    p.add_argument("--max-time", type=float, default=60.0, help="stop timing one configuration after this long")
    p.add_argument("--repeat", type=int, default=1, help="fresh processes per configuration (median kept)")
    p.add_argument("--quiet-wait", type=float, default=20.0,
                   help="before each configuration wait up to this many seconds for other processes to go quiet")
    p.add_argument("--busy-threshold", type=float, default=0.3,
                   help="cores used by other processes above which a timing counts as disturbed")
    p.add_argument("--retries", type=int, default=2, help="extra attempts for a disturbed configuration")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a worker process is abandoned")
    p.add_argument("--workdir", help="where ONNX/.jmnn/inputs go (default: a new temporary directory)")
    p.add_argument("--force", action="store_true", help="convert .jmnn files again even if present in --workdir")
    p.add_argument("--no-warm-cache", dest="warm_cache", action="store_false",
                   help="do not run an untimed process first (then '1st ms' may include Numba compilation)")
    p.add_argument("--startup", action="store_true",
                   help="measure import cost, warm start and cold compile instead of the latency table")
    p.add_argument("--startup-model", default="resnet18")
    p.add_argument("--json", help="also write all results to this JSON file")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    own_workdir = args.workdir is None
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="jitmnn-bench-")
    os.makedirs(args.workdir, exist_ok=True)
    info = machine_info()
    log(f"jitmnn bench: {info.get('cpu', '?')}, {info['cpus']} cpus, load average {info.get('loadavg')}")
    log(f"note: {ENV_HEADER}")
    log("note: timings on a shared 2-core VM are noisy; 'foreign' = cores used by other processes while timing")
    result = {"meta": {**info, "env_note": ENV_HEADER, "argv": list(argv or sys.argv[1:]),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "workdir": args.workdir}}
    try:
        if args.startup:
            models = [args.startup_model]
        else:
            models = args.models
            args.mnn_ok, mnn_note = probe_mnn(args.mnn_python)
            result["meta"]["mnn"] = mnn_note
            log(f"note: {mnn_note}")
        log(f"preparing models in {args.workdir}")
        prepared = prepare(models, args.workdir, args.force, log)
        result["models"] = prepared
        if args.startup:
            result["startup"] = bench_startup(args, prepared, log)
        else:
            log("")
            log(HEADER)
            result["rows"] = bench_models(args, prepared, log)
            log("")
            log(summary(result["rows"]))
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1, default=str)
            log(f"results written to {args.json}")
        if own_workdir and not args.json:
            shutil.rmtree(args.workdir, ignore_errors=True)
    rows = result.get("rows", [])
    return 1 if any("error" in r for r in rows) else 0


def summary(rows: list) -> str:
    """One line per model and thread count: jitmnn/ORT latency ratio and peak memory per mode."""
    lines = ["summary (median latency, ratio jitmnn/ORT of medians and of minimums, lower is better; peak RSS;"
             " '!' = other processes used > --busy-threshold cores while it was timed: read its median with care):"]
    keys = sorted({(r["model"], r.get("threads")) for r in rows if r.get("threads")}, key=str)
    for model, threads in keys:
        rs = [r for r in rows if r["model"] == model and r.get("threads") == threads]
        parts = []
        for r in rs:
            label = r["runtime"] if r.get("mode", "-") == "-" else f"{r['runtime']} {r['mode']}"
            if "error" in r:
                parts.append(f"{label}: error")
            else:
                parts.append(f"{label}: {r['median_ms']:.1f} ms" + ("!" if r.get("disturbed") else "")
                             + (f" (x{r['ratio_vs_ort']:.2f}, min x{r['ratio_min_vs_ort']:.2f})"
                                if r["runtime"] != "ort" and r.get("ratio_vs_ort") else "")
                             + f", {r['peak_rss_mb']:.0f} MB")
        lines.append(f"  {model} T={threads}: " + "; ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    sys.exit(main())
