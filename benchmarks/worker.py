"""One measurement in a fresh process; bench.py starts it and reads one JSON object from the last stdout line.

    python worker.py '{"task": "run", "runtime": "ort", "model": "m.onnx", "input": "x.npy", "threads": 1, ...}'
    python worker.py '{"task": "startup", "runtime": "jitmnn", "model": "m.jmnn", "input": "x.npy"}'

Only the standard library is imported before the first measurement, so the RSS and import-time numbers are
this runtime's own. Memory figures come from /proc/self/status (VmRSS now, VmHWM peak), in MiB."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

MIB = 1024.0 * 1024.0


def proc_status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024 / MIB
    return out


def rss() -> float:
    return proc_status()["VmRSS"]


def cpu_snapshot():
    """(wall, machine busy ticks, steal ticks, this process's ticks)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return time.perf_counter(), v[0] + v[1] + v[2] + v[5] + v[6], v[7], int(fields[11]) + int(fields[12])


def interference(a, b) -> dict:
    """CPU used by other processes (in cores) and stolen by the hypervisor while we were timing."""
    wall = b[0] - a[0]
    if wall < 0.25:  # /proc/stat counts in 10 ms ticks: too coarse to say anything about a shorter window
        return {"foreign_cores": None, "steal_cores": None}
    wall_ticks = wall * os.sysconf("SC_CLK_TCK")
    return {"foreign_cores": round(max(0.0, (b[1] - a[1]) - (b[3] - a[3])) / wall_ticks, 3),
            "steal_cores": round((b[2] - a[2]) / wall_ticks, 3)}


def time_runs(fn, spec) -> dict:
    """3 warm-ups, then at least `runs` timed runs and at least `min_time` seconds (stopping at `max_time`)."""
    for _ in range(spec.get("warmup", 3)):
        fn()
    runs, min_time, max_time = spec.get("runs", 20), spec.get("min_time", 1.0), spec.get("max_time", 60.0)
    lat = []
    snap = cpu_snapshot()
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        fn()
        now = time.perf_counter()
        lat.append((now - t) * 1e3)
        elapsed = now - start
        if (len(lat) >= runs and elapsed >= min_time) or (elapsed >= max_time and len(lat) >= 3):
            break
    lat.sort()
    return {"median_ms": statistics.median(lat), "min_ms": lat[0], "mean_ms": statistics.fmean(lat),
            "p90_ms": lat[min(len(lat) - 1, int(0.9 * len(lat)))], "n_runs": len(lat),
            **interference(snap, cpu_snapshot())}


# ----- runtimes: open(spec, x) -> (run() -> list of arrays, info dict) ----------------------------------------
def open_jitmnn(spec):
    import jitmnn

    m = jitmnn.load(spec["model"], memory=spec.get("memory", "normal"), precision=spec.get("precision", "normal"),
                    num_threads=spec["threads"])
    name = m.input_names[0]
    info = {"version": jitmnn.__version__}

    def run(x):
        return list(m.run({name: x}).values())

    def after_first():
        mem = m.memory_info()
        plan = m.explain().plan
        return {"arena_bytes": mem["arena_capacity_bytes"], "expanded_weight_bytes": mem["weights_expanded_bytes"],
                "weights_stored_bytes": mem["weights_stored_bytes"], "notes": list(plan.notes),
                "algorithms": plan.algorithm_counts()}

    return run, info, after_first


def open_ort(spec):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = spec["threads"]
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sess = ort.InferenceSession(spec["model"], so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x):
        return sess.run(None, {name: x})

    return run, {"version": ort.__version__}, None


MNN_MEMORY = {"normal": 0, "high": 1, "low": 2}
MNN_PRECISION = {"normal": 0, "high": 1, "low": 2}


def open_mnn(spec):
    import MNN
    import MNN.expr as F
    import MNN.nn as nn
    import numpy as np

    # the runtime-manager "memory" key must be an int: MNN silently ignores a string (ANCHORS.md)
    cfg = {"backend": "CPU", "numThread": spec["threads"], "memory": MNN_MEMORY[spec.get("memory", "normal")],
           "precision": MNN_PRECISION[spec.get("precision", "normal")]}
    rt = nn.create_runtime_manager((cfg,))
    mod = nn.load_module_from_file(spec["model"], [], [], runtime_manager=rt)

    def run(x):
        outs = mod.forward(F.const(x, list(x.shape), F.NCHW))
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        res = []
        for o in outs:
            if o.data_format == F.NC4HW4:
                o = F.convert(o, F.NCHW)
            res.append(np.array(o.read(), copy=True))
        return res

    return run, {"version": MNN.version()}, None


OPENERS = {"jitmnn": open_jitmnn, "ort": open_ort, "mnn": open_mnn}
IMPORTS = {"jitmnn": "jitmnn", "ort": "onnxruntime", "mnn": "MNN"}


def task_run(spec) -> dict:
    """Load, first run, timed runs; RSS at each stage."""
    res = {"rss_before_import_mb": rss()}
    import numpy as np

    x = np.load(spec["input"])
    t = time.perf_counter()
    __import__(IMPORTS[spec["runtime"]])
    res["import_s"] = time.perf_counter() - t
    res["rss_before_load_mb"] = rss()
    t = time.perf_counter()
    run, info, after_first = OPENERS[spec["runtime"]](spec)
    res["load_ms"] = (time.perf_counter() - t) * 1e3
    res["rss_after_load_mb"] = rss()
    t = time.perf_counter()
    outs = run(x)
    res["first_ms"] = (time.perf_counter() - t) * 1e3
    res["rss_after_first_mb"] = rss()
    res.update(info)
    if after_first is not None:
        res.update(after_first())
    res.update(time_runs(lambda: run(x), spec))
    st = proc_status()
    res["rss_end_mb"], res["peak_rss_mb"] = st["VmRSS"], st["VmHWM"]
    if spec.get("out"):
        np.savez(spec["out"], *[np.asarray(o, dtype=np.float32) for o in outs])
    return res


def task_import(spec) -> dict:
    """Cost of importing the runtime alone."""
    res = {"rss_before_import_mb": rss()}
    t = time.perf_counter()
    __import__(IMPORTS[spec["runtime"]])
    res["import_s"] = time.perf_counter() - t
    res["rss_after_import_mb"] = rss()
    res["numba_imported"] = "numba" in sys.modules
    return res


def task_startup(spec) -> dict:
    """What a fresh process pays before its first answer: import, load, first run (compile or cache load)."""
    res = {"rss_before_import_mb": rss()}
    t0 = time.perf_counter()
    import numpy as np

    x = np.load(spec["input"])
    res["rss_numpy_mb"] = rss()
    t = time.perf_counter()
    __import__(IMPORTS[spec["runtime"]])
    res["import_s"] = time.perf_counter() - t
    res["rss_after_import_mb"] = rss()
    t = time.perf_counter()
    run, info, _ = OPENERS[spec["runtime"]](spec)
    res["load_s"] = time.perf_counter() - t
    res["rss_after_load_mb"] = rss()
    t = time.perf_counter()
    run(x)
    res["first_run_s"] = time.perf_counter() - t
    res["import_to_first_result_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    run(x)
    res["second_run_s"] = time.perf_counter() - t
    st = proc_status()
    res["rss_after_first_mb"], res["peak_rss_mb"] = st["VmRSS"], st["VmHWM"]
    res.update(info)
    return res


TASKS = {"run": task_run, "import": task_import, "startup": task_startup}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = {"task": spec["task"], "runtime": spec["runtime"], "threads": spec.get("threads", 1),
              "pid": os.getpid(), "env": {k: os.environ.get(k) for k in (
                  "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                  "OPENBLAS_NUM_THREADS", "NUMBA_CACHE_DIR")}}
    result.update(TASKS[spec["task"]](spec))
    sys.stdout.flush()
    print("\n" + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
