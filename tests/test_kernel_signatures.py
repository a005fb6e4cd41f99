"""Numba compiles one specialisation per argument-type signature. A kernel fed a new layout or dtype on some run
(a view that is 'A' instead of 'C', an int32 where int64 was seen, a float64 scalar) compiles again mid-serving:
seconds of latency and ~8 MB of RSS each. Once a model has run once per setting, later runs, a second thread and a
clone must compile nothing new."""

import sys
import threading

import numpy as np

import jitmnn
from jitmnn.models import prepare_model, sample_input


def _signature_count() -> int:
    """Compiled specialisations across every loaded kernel module (Numba dispatchers have .signatures)."""
    total = 0
    for name, mod in list(sys.modules.items()):
        if not name.startswith("jitmnn.kernels") or mod is None:
            continue
        for obj in vars(mod).values():
            sigs = getattr(obj, "signatures", None)
            if isinstance(sigs, list):
                total += len(sigs)
    return total


def test_later_runs_threads_and_clones_compile_nothing_new(tmp_path):
    _, path = prepare_model("tiny_cnn", str(tmp_path))
    x = sample_input("tiny_cnn")
    feed = {"input": x}
    modules = [jitmnn.load(path, memory=mem, num_threads=nt) for mem in ("normal", "low") for nt in (1, 2)]
    first = [m.run(feed)["output"] for m in modules]  # every setting plans and compiles once
    before = _signature_count()
    assert before > 0
    for _ in range(3):
        for m, want in zip(modules, first):
            np.testing.assert_array_equal(m.run(feed)["output"], want)
    results = []
    worker = threading.Thread(target=lambda: results.append(modules[1].run(feed)["output"]))
    worker.start()
    worker.join()
    clone = modules[0].clone()
    results.append(clone.run(feed)["output"])
    np.testing.assert_array_equal(results[0], first[1])
    np.testing.assert_array_equal(results[1], first[0])
    assert _signature_count() == before, "a later run, another thread or a clone compiled a new kernel specialisation"


def test_freshly_compiled_and_cached_kernels_agree_bit_for_bit(tmp_path):
    """Two processes must compute the same bits whether their kernels were just compiled or loaded from the Numba
    cache (a Ray actor loads what the driver compiled). With fastmath's reassoc on the Winograd transforms, LLVM
    reassociated them differently in the two cases (7.6e-6 apart); they now compile without it. The model's 3x3
    conv plans Winograd F(4,3) at this size."""
    import os
    import subprocess

    import onnx

    from tests.onnx_models import small_classifier

    onnx.save(small_classifier("batch", size=8), str(tmp_path / "m.onnx"))
    jitmnn.convert(str(tmp_path / "m.onnx"), str(tmp_path / "m.jmnn"))
    script = (
        "import sys, numpy as np, jitmnn\n"
        "m = jitmnn.load(sys.argv[1])\n"
        "x = np.random.default_rng(1).standard_normal((20, 3, 8, 8)).astype(np.float32)\n"
        "assert any(s.algorithm.startswith('winograd') for s in m.explain({'x': x.shape}).plan.steps)\n"
        "np.save(sys.argv[2], m.run({'x': x})['y'])\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    for out in ("cold.npy", "cached.npy"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.jmnn"), str(tmp_path / out)], env=env,
                       check=True, timeout=600)
    np.testing.assert_array_equal(np.load(tmp_path / "cold.npy"), np.load(tmp_path / "cached.npy"))
