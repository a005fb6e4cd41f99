"""`jitmnn bench MODEL`: how fast and how big one model is here, next to ONNX Runtime, from a pip install.

    jitmnn bench model.onnx --shape images=1,3,640,640 --threads 2 --time 3
    result = jitmnn.bench.run("model.onnx", shapes={"images": (1, 3, 640, 640)}, threads=2)

One process, one set of random inputs. An .onnx is converted to a temporary .jmnn first and, when
onnxruntime imports, run by ORT too: the two runtimes alternate in short rounds so a burst of load from other
processes lands on both, and their outputs on the same inputs are compared. Latency is per run() call (p50,
p90); throughput is calls per second of that runtime's own time; "RSS added" is what loading, the first run
(planning, kernel compile or cache load) and warm-up added to this process, with both runtimes' libraries
imported beforehand so neither pays for the other's.

Only the standard library is imported at module level: `run()` first lets timing_env drop the OpenBLAS
variables, which works only before numpy is loaded. The zoo comparison in fresh processes (with MNN) is
benchmarks/bench.py of a source checkout; nothing here imports from it."""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from . import timing_env
from .errors import InputError

DEFAULT_SECONDS = 3.0
WARMUP_RUNS = 3
# Every runtime gets at least this many timed runs, however slow one run is (p90 of fewer means little).
MIN_RUNS = 3
# The timed seconds are cut into this many rounds per runtime, alternating which runtime goes first.
ROUNDS = 10
# Random integer inputs are drawn from [0, SMALL_INT_HIGH): valid as indices, token ids and class ids of any
# axis with at least this many entries, so Gather/Embedding-style inputs do not fail on random data.
SMALL_INT_HIGH = 8
# "Outputs agree" means max|diff| / max(1, max|ORT|) within this, per precision setting. normal/high: the
# project's whole-model bar against ORT (tests/tolerances.py MODEL_VS_ORT). low stores activations as fp16:
# each store rounds at 2^-11 relative and a whole model compounds that over its depth.
AGREE_TOLERANCE = {"normal": 1e-4, "high": 1e-4, "low": 1e-2}
MB = 1024.0 * 1024.0


# ----- inputs ---------------------------------------------------------------------------------------------
def parse_shape(text: str) -> tuple[str, tuple]:
    """'name=1,3,224,224' (or 1x3x224x224) -> ('name', (1, 3, 224, 224)); InputError for anything else."""
    name, sep, dims = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
    except ValueError:
        raise InputError(f"--shape expects NAME=D0,D1,... (e.g. x=1,3,224,224), got {text!r}") from None
    if any(d <= 0 for d in shape):
        raise InputError(f"--shape {text!r}: every dimension must be a positive integer")
    return name, shape


def resolve_shapes(input_specs: dict, given: dict) -> tuple[dict, list]:
    """The shape each input runs with: `given` where passed (checked against the declaration), else the
    declared shape with each symbolic dimension set to 1. Returns (shapes, one note per defaulted dim)."""
    unknown = sorted(set(given) - set(input_specs))
    if unknown:
        raise InputError(f"--shape names unknown input(s) {unknown}; the model's inputs are {list(input_specs)}")
    shapes, defaults = {}, []
    for name, (declared, _) in input_specs.items():
        shown = ",".join(str(d) if _fixed(d) else "?" for d in declared)
        if name in given:
            shape = given[name]
            if len(shape) != len(declared):
                raise InputError(f"--shape {name}: the model declares rank {len(declared)} ({name}={shown}), "
                                 f"got {len(shape)} dims")
            for i, (d, s) in enumerate(zip(declared, shape)):
                if _fixed(d) and d != s:
                    raise InputError(f"--shape {name}: dimension {i} is fixed at {d} by the model ({name}={shown}), "
                                     f"got {s}")
            shapes[name] = tuple(shape)
            continue
        shapes[name] = tuple(d if _fixed(d) else 1 for d in declared)
        for i, d in enumerate(declared):
            if not _fixed(d):
                label = f" ({d})" if isinstance(d, str) else ""
                defaults.append(f"{name} dim {i}{label} = 1 (declared {name}={shown}; pass --shape to choose)")
    return shapes, defaults


def _fixed(d) -> bool:
    return isinstance(d, int) and d > 0


def random_inputs(shapes: dict, dtypes: dict, seed: int = 0) -> dict:
    """Floats standard normal, integers in [0, SMALL_INT_HIGH), bools fair coin flips."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        dtype = np.dtype(dtypes[name])
        if dtype.kind == "f":
            out[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            out[name] = rng.integers(0, SMALL_INT_HIGH, shape).astype(dtype)
        elif dtype.kind == "b":
            out[name] = rng.random(shape) < 0.5
        else:
            raise InputError(f"input {name!r} has dtype {dtype}: jitmnn bench cannot make random values of it")
    return out


# ----- measuring ------------------------------------------------------------------------------------------
def rss_bytes() -> tuple[int, str]:
    """(resident set size now, where it came from): psutil, else /proc/self/status, else the peak from
    resource.getrusage (which only grows, so "added" is then an upper bound)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss, "psutil"
    except ImportError:
        pass
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024, "/proc/self/status"
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024), "getrusage peak"


def time_interleaved(runners: dict, seconds: float, rounds: int = ROUNDS) -> dict:
    """{label: fn} -> {label: [seconds per call]}: each runtime runs `seconds` of calls in total, in
    `rounds` slices, alternating which goes first, and at least MIN_RUNS calls."""
    latencies = {label: [] for label in runners}
    slice_s = seconds / max(1, rounds)
    order = list(runners)

    def done(label):
        lat = latencies[label]
        return len(lat) >= MIN_RUNS and sum(lat) >= seconds

    turn = 0
    while not all(done(label) for label in order):
        for label in order if turn % 2 == 0 else order[::-1]:
            if done(label):
                continue
            fn, lat, start = runners[label], latencies[label], time.perf_counter()
            while True:
                t = time.perf_counter()
                fn()
                now = time.perf_counter()
                lat.append(now - t)
                if now - start >= slice_s or done(label):
                    break
        turn += 1
    return latencies


def summarise(latencies: list) -> dict:
    lat = sorted(latencies)
    return {"p50_ms": statistics.median(lat) * 1e3, "p90_ms": lat[min(len(lat) - 1, int(0.9 * len(lat)))] * 1e3,
            "min_ms": lat[0] * 1e3, "mean_ms": statistics.fmean(lat) * 1e3, "runs": len(lat),
            "throughput_per_s": len(lat) / sum(lat)}


def compare_outputs(got: dict, ref: dict, precision: str) -> dict:
    """Max abs difference (and relative to max(1, max|ref|)) over the outputs both runtimes produce,
    matched by name (by position when no name matches, as a converter may rename them)."""
    import numpy as np

    pairs = [(n, got[n], ref[n]) for n in ref if n in got]
    if not pairs:
        pairs = [(f"{a}~{b}", got[a], ref[b]) for a, b in zip(got, ref)]
    worst_abs, worst_rel, per_output = 0.0, 0.0, {}
    for name, a, b in pairs:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.shape != b64.shape:
            per_output[name] = f"shape {a64.shape} vs ORT {b64.shape}"
            worst_abs = worst_rel = float("inf")
            continue
        diff = float(np.abs(a64 - b64).max()) if a64.size else 0.0
        scale = max(1.0, float(np.abs(b64).max())) if b64.size else 1.0
        per_output[name] = diff
        worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale)
    tolerance = AGREE_TOLERANCE[precision]
    return {"max_abs_diff": worst_abs, "max_rel_diff": worst_rel, "per_output_abs_diff": per_output,
            "agree_tolerance": tolerance, "outputs_agree": bool(worst_rel <= tolerance)}


# ----- runtimes ---------------------------------------------------------------------------------------------
def _open_jitmnn(path, inputs, threads, memory, precision, warmup):
    import jitmnn

    t = time.perf_counter()
    m = jitmnn.load(path, precision=precision, memory=memory, num_threads=threads)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    outputs = m.run(inputs)
    first_s = time.perf_counter() - t
    for _ in range(warmup):
        m.run(inputs)
    return m, (lambda: m.run(inputs)), outputs, {"load_s": load_s, "first_run_ms": first_s * 1e3}


def _open_ort(path, inputs, threads, warmup):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    t = time.perf_counter()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t
    missing = [i.name for i in sess.get_inputs() if i.name not in inputs]
    if missing:
        raise InputError(f"ONNX Runtime wants inputs {missing} that jitmnn's converted model does not have")
    feeds = {i.name: inputs[i.name] for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    t = time.perf_counter()
    outputs = dict(zip(names, sess.run(None, feeds)))
    first_s = time.perf_counter() - t
    for _ in range(warmup):
        sess.run(None, feeds)
    info = {"load_s": load_s, "first_run_ms": first_s * 1e3, "version": ort.__version__}
    return sess, (lambda: sess.run(None, feeds)), outputs, info


def _ort_available() -> tuple[bool, str]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False, "onnxruntime is not installed (pip install onnxruntime to compare)"
    return True, ""


# ----- the benchmark ----------------------------------------------------------------------------------------
def run(model: str, shapes: dict | None = None, threads: int = 1, memory: str = "normal",
        precision: str = "normal", seconds: float = DEFAULT_SECONDS, warmup: int = WARMUP_RUNS,
        ort: bool = True, seed: int = 0) -> dict:
    """Benchmark one .onnx or .jmnn file; returns a JSON-ready dict (format_result() prints it)."""
    notes = timing_env.prepare(threads)
    if not os.path.exists(model):
        raise FileNotFoundError(f"no such model file: {model}")
    kind = os.path.splitext(model)[1].lower()
    if kind not in (".onnx", ".jmnn"):
        raise InputError(f"jitmnn bench takes an .onnx or .jmnn file, got {model!r}")
    if seconds <= 0 or warmup < 0:
        raise InputError("--time must be positive and --warmup non-negative")
    result = {"model": os.path.abspath(model), "settings": {"threads": threads, "memory": memory,
              "precision": precision, "time_s": seconds, "warmup": warmup}, "notes": notes}
    with tempfile.TemporaryDirectory(prefix="jitmnn-bench-") as tmp:
        path = model
        if kind == ".onnx":
            import jitmnn

            path = os.path.join(tmp, os.path.basename(model)[:-5] + ".jmnn")
            t = time.perf_counter()
            jitmnn.convert(model, path)
            result["convert_s"] = time.perf_counter() - t
        _measure(result, path, model if kind == ".onnx" else None, dict(shapes or {}), seed, ort)
    return result


def _measure(result: dict, jmnn_path: str, onnx_path: str | None, given: dict, seed: int, want_ort: bool):
    import gc

    import numba  # noqa: F401  (imported before the RSS baseline: its libraries are not the model's cost)

    from . import format as jformat

    s = result["settings"]
    graph = jformat.load(jmnn_path)
    specs = {t.name: (tuple(t.shape), t.dtype) for t in graph.inputs}
    del graph
    shapes, defaults = resolve_shapes(specs, given)
    inputs = random_inputs(shapes, {n: dt for n, (_, dt) in specs.items()}, seed)
    result["inputs"] = {n: {"shape": list(shapes[n]), "dtype": specs[n][1]} for n in specs}
    result["defaulted_dims"] = defaults

    use_ort, why_not = _ort_available()  # imports onnxruntime before the RSS baseline, as numba above
    if onnx_path is None:
        use_ort, why_not = False, "the model is a .jmnn (ORT needs the .onnx)"
    elif not want_ort:
        use_ort, why_not = False, "--no-ort"
    result["ort_skipped"] = None if use_ort else why_not
    gc.collect()
    before, result["rss_source"] = rss_bytes()
    m, run_jitmnn, out_jitmnn, info = _open_jitmnn(jmnn_path, inputs, s["threads"], s["memory"],
                                                   s["precision"], s["warmup"])
    after, _ = rss_bytes()
    result["jitmnn"] = {**info, "rss_added_mb": (after - before) / MB}
    runners = {"jitmnn": run_jitmnn}
    sess = None
    if use_ort:
        gc.collect()
        before, _ = rss_bytes()
        sess, runners["ort"], out_ort, info = _open_ort(onnx_path, inputs, s["threads"], s["warmup"])
        after, _ = rss_bytes()
        result["ort"] = {**info, "rss_added_mb": (after - before) / MB}
        result["comparison"] = compare_outputs(out_jitmnn, out_ort, s["precision"])
    try:
        latencies = time_interleaved(runners, s["time_s"])
    finally:
        m.close()
    for label, lat in latencies.items():
        result[label].update(summarise(lat))
    if sess is not None:
        result["ratio_p50_vs_ort"] = result["jitmnn"]["p50_ms"] / result["ort"]["p50_ms"]
        result["ratio_throughput_vs_ort"] = result["jitmnn"]["throughput_per_s"] / result["ort"]["throughput_per_s"]
    result["machine"] = {"cpus": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()]
                         if hasattr(os, "getloadavg") else None}


def format_result(r: dict) -> str:
    """The human-readable report of run()'s result."""
    s = r["settings"]
    lines = [f"jitmnn bench {r['model']}: threads {s['threads']}, memory {s['memory']}, precision "
             f"{s['precision']}, {s['time_s']:g} s per runtime after {s['warmup']} warm-up runs"]
    if "convert_s" in r:
        lines.append(f"  converted to a temporary .jmnn in {r['convert_s']:.2f} s")
    for name, spec in r["inputs"].items():
        lines.append(f"  input {name}: {spec['dtype']} {tuple(spec['shape'])} (random)")
    lines += [f"  default: {d}" for d in r["defaulted_dims"]]
    lines += [f"  note: {n}" for n in r["notes"]]
    lines.append(f"  {'runtime':<8} {'p50 ms':>9} {'p90 ms':>9} {'runs':>6} {'inf/s':>9} {'load s':>7} "
                 f"{'1st ms':>9} {'RSS added MB':>13}")
    for label in ("jitmnn", "ort"):
        x = r.get(label)
        if x:
            lines.append(f"  {label:<8} {x['p50_ms']:>9.3f} {x['p90_ms']:>9.3f} {x['runs']:>6} "
                         f"{x['throughput_per_s']:>9.1f} {x['load_s']:>7.3f} {x['first_run_ms']:>9.1f} "
                         f"{x['rss_added_mb']:>13.1f}")
    if "ratio_p50_vs_ort" in r:
        c = r["comparison"]
        lines.append(f"  jitmnn/ORT: p50 x{r['ratio_p50_vs_ort']:.2f} (lower is better), throughput "
                     f"x{r['ratio_throughput_vs_ort']:.2f} (higher is better)")
        lines.append(f"  outputs: max abs diff {c['max_abs_diff']:.3g}, relative {c['max_rel_diff']:.3g} -> "
                     + ("agree" if c["outputs_agree"] else f"DISAGREE (tolerance {c['agree_tolerance']:g})"))
    else:
        lines.append(f"  ONNX Runtime not run: {r['ort_skipped']}")
    lines.append(f"  RSS from {r['rss_source']}: load + first run + warm-up, libraries imported beforehand; "
                 f"load average {r['machine']['loadavg']} on {r['machine']['cpus']} cpus (timings on a busy "
                 f"machine are noisy)")
    return "\n".join(lines)
