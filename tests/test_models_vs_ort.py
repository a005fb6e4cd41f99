"""Whole models, jitmnn vs ONNX Runtime (1 thread) on the same ONNX file: the three seeded classifiers
built by jitmnn.models.zoo and the real PP-OCR det/rec/cls shipped by rapidocr-onnxruntime.

Bar: max|diff| / max|ref| <= MODEL_VS_ORT (1e-4). Inputs are realistic: a text-like page for the detector
(on noise its output is ~0 everywhere and says nothing), PP-OCR's normalised range for rec/cls, standard
normal for the classifiers. Memory modes must not change results beyond the same bar."""

from __future__ import annotations

import numpy as np
import pytest

from jitmnn.models import ZOO, ppocr, prepare_model, sample_input
from tests.tolerances import MODEL_VS_ORT

ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.slow


def model_err(got, ref) -> float:
    """max|diff| / max|ref|: relative to the output's own scale (logits ~10, probabilities ~1)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"shape {got.shape} != ORT {ref.shape}"
    return float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("zoo"))


_prepared: dict = {}


def prepared(name: str, workdir: str):
    """(onnx_path, jmnn_path, input array, ORT outputs by name), once per model per test session."""
    if name not in _prepared:
        try:
            onnx_file, jmnn_file = prepare_model(name, workdir)
        except ppocr.PPOCRModelNotFound as e:
            pytest.skip(str(e))
        x = sample_input(name, seed=1)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onnx_file, so, providers=["CPUExecutionProvider"])
        feeds = {sess.get_inputs()[0].name: x}
        refs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        _prepared[name] = (onnx_file, jmnn_file, feeds, refs)
    return _prepared[name]


def run_jitmnn(jmnn_file, feeds, **settings):
    import jitmnn

    m = jitmnn.load(jmnn_file, **settings)
    try:
        outs = m.run(feeds)
        notes = "\n".join(m.explain().plan.notes)
    finally:
        m.close()
    return outs, notes


@pytest.mark.parametrize("name", list(ZOO))
def test_model_matches_ort(name, workdir):
    _, jmnn_file, feeds, refs = prepared(name, workdir)
    outs, notes = run_jitmnn(jmnn_file, feeds, num_threads=1)
    assert set(outs) == set(refs), f"outputs {sorted(outs)} != ORT {sorted(refs)}"
    for out_name, ref in refs.items():
        err = model_err(outs[out_name], ref)
        assert err <= MODEL_VS_ORT, f"{name} output {out_name!r}: max|diff|/max|ref| = {err:.3g}\n{notes}"
    if name == "ppocr_det":
        # the text mask (DB threshold 0.3) must be essentially the same pixels; the page must light it up
        (ref,) = refs.values()
        (got,) = outs.values()
        assert (ref > 0.3).mean() > 0.05, "the text-like page no longer triggers the detector"
        assert ((got > 0.3) != (ref > 0.3)).mean() < 5e-4  # MNN fp16 storage flips 5e-4 (ANCHORS.md)


@pytest.mark.parametrize("name", list(ZOO))
def test_converted_graph_matches_ort_in_ort(name, workdir):
    """The converted graph (BN folded, activations fused, shapes folded) exported back to ONNX and run by
    ORT itself: a failure here is a converter-pass bug; a failure only in test_model_matches_ort is a kernel's."""
    from jitmnn import format as jformat
    from jitmnn.converter.export import to_onnx

    _, jmnn_file, feeds, refs = prepared(name, workdir)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(to_onnx(jformat.load(jmnn_file)).SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for out_name, ref in refs.items():
        err = model_err(outs[out_name], ref)
        assert err <= MODEL_VS_ORT, f"{name} output {out_name!r}: converted graph in ORT differs by {err:.3g}"


@pytest.mark.parametrize("name,memory", [("resnet18", "low"), ("resnet18", "high"), ("ppocr_det", "low")])
def test_memory_modes_agree(name, memory, workdir):
    _, jmnn_file, feeds, refs = prepared(name, workdir)
    normal, _ = run_jitmnn(jmnn_file, feeds, memory="normal")
    other, notes = run_jitmnn(jmnn_file, feeds, memory=memory)
    for out_name, ref in refs.items():
        assert model_err(other[out_name], ref) <= MODEL_VS_ORT, notes
        assert model_err(other[out_name], normal[out_name]) <= MODEL_VS_ORT, notes


# The compressed-weights issue's bar: an int4 block-32 file is at most 0.16x of the fp32 .jmnn file.
INT4_MAX_FILE_RATIO = 0.16


@pytest.mark.parametrize("name", list(ZOO))
def test_int4_block32_file_is_small_and_runs_in_low_memory(name, workdir):
    """int4 block 32 runs every zoo model (memory low: hybrid kernels, no fp32 weight copy) with finite
    outputs of the right shape, and its file is <= 0.16x the fp32 file (accuracy: benchmarks/accuracy.py)."""
    import os

    onnx_file, jmnn_file, feeds, refs = prepared(name, workdir)
    _, int4_file = prepare_model(name, workdir, weight_quant_bits=4, block_size=32)
    ratio = os.path.getsize(int4_file) / os.path.getsize(jmnn_file)
    assert ratio <= INT4_MAX_FILE_RATIO, f"{name}: int4-b32 file is {ratio:.4f}x of fp32"
    import jitmnn

    with jitmnn.load(int4_file, memory="low", num_threads=1) as m:
        outs = m.run(feeds)
        steps = m.explain().plan.steps
    for out_name, ref in refs.items():
        assert outs[out_name].shape == ref.shape and np.all(np.isfinite(outs[out_name]))
    # low memory expands at prepare only small layers (biases, filters under its per-layer copy cap)
    worst = max(steps, key=lambda s: s.weight_bytes)
    assert worst.weight_bytes <= jitmnn.config.LOW_MEMORY_MAX_WEIGHT_COPY_BYTES, (worst.node.name, worst.algorithm)


def test_two_threads_match_one_resnet18(workdir):
    _, jmnn_file, feeds, refs = prepared("resnet18", workdir)
    (ref,) = refs.values()
    outs, notes = run_jitmnn(jmnn_file, feeds, num_threads=2)
    assert model_err(outs["output"], ref) <= MODEL_VS_ORT, notes


def test_bench_smoke(tmp_path, monkeypatch):
    """benchmarks/bench.py end to end on the tiny model: fresh worker processes, JSON out, OpenBLAS
    variables unset only in the workers, jitmnn's output checked against ORT's."""
    import importlib.util
    import json
    import os

    spec = importlib.util.spec_from_file_location(
        "jitmnn_bench", os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    out = tmp_path / "bench.json"
    code = bench.main(["--models", "tiny_cnn", "--threads", "1", "--modes", "normal,low", "--runs", "3",
                       "--min-time", "0", "--quiet-wait", "0", "--retries", "0", "--workdir", str(tmp_path),
                       "--json", str(out), "--quiet"])
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"  # the parent's environment is untouched
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert code == 0, rows
    assert [(r["runtime"], r["mode"]) for r in rows] == [("ort", "-"), ("jitmnn", "normal"), ("jitmnn", "low")]
    for r in rows:
        assert r["env"]["OPENBLAS_CORETYPE"] is None and r["env"]["NUMBA_NUM_THREADS"] == "1"
        assert r["n_runs"] >= 3 and r["median_ms"] > 0 and r["peak_rss_mb"] >= r["rss_after_load_mb"] > 0
        assert r["err_vs_ort"] <= MODEL_VS_ORT
    assert rows[1]["ratio_vs_ort"] > 0 and "mnn" in result["meta"]
