"""`jitmnn bench MODEL` (jitmnn/bench.py): any .onnx with a symbolic batch dim, timed next to ONNX Runtime on the
same random inputs; bad --shape values are typed one-line errors; and it works where only the installed package
is importable (nothing from benchmarks/ or tests/)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from tests.onnx_models import small_classifier  # noqa: E402

from jitmnn import InputError, bench, cli, timing_env  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHORT = "0.2"  # seconds of timed runs per runtime: enough for MIN_RUNS on this tiny model, quick for the suite




@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "small.onnx"
    onnx.save(small_classifier(), str(path))
    return str(path)


def test_bench_json_against_ort(model_file, capsys):
    assert cli.main(["bench", model_file, "--time", SHORT, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["inputs"] == {"x": {"shape": [1, 3, 16, 16], "dtype": "float32"}}
    assert len(r["defaulted_dims"]) == 1 and r["defaulted_dims"][0].startswith("x dim 0 = 1 (declared x=?,3,16,16")
    for runtime in ("jitmnn", "ort"):
        x = r[runtime]
        assert x["runs"] >= bench.MIN_RUNS and 0 < x["p50_ms"] <= x["p90_ms"], x
        assert x["throughput_per_s"] > 0 and x["rss_added_mb"] is not None
    assert r["ort_skipped"] is None and r["ratio_p50_vs_ort"] > 0 and r["ratio_throughput_vs_ort"] > 0
    c = r["comparison"]
    assert c["outputs_agree"], c
    assert set(c["per_output_abs_diff"]) == {"y"} and c["max_abs_diff"] <= c["agree_tolerance"] * 10


def test_bench_shape_flag_and_text_report(model_file, capsys):
    assert cli.main(["bench", model_file, "--time", SHORT, "--shape", "x=2,3,16,16", "--no-ort"]) == 0
    out = capsys.readouterr().out
    assert "input x: float32 (2, 3, 16, 16)" in out and "default:" not in out
    assert "ONNX Runtime not run: --no-ort" in out and "p50 ms" in out


@pytest.mark.parametrize("shape, message", [
    ("x=1,3,a", "--shape expects NAME=D0,D1,..."),         # not integers
    ("1,3,16,16", "--shape expects NAME=D0,D1,..."),       # no name
    ("x=0,3,16,16", "must be a positive integer"),
    ("y=1,3,16,16", "unknown input(s) ['y']; the model's inputs are ['x']"),
    ("x=1,3,16", "declares rank 4"),
    ("x=1,4,16,16", "dimension 1 is fixed at 3"),
])
def test_bad_shape_is_a_one_line_user_error(model_file, capsys, shape, message):
    assert cli.main(["bench", model_file, "--time", SHORT, "--shape", shape]) == cli.USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("jitmnn bench: error: ") and message in err and err.count("\n") == 1, err


def test_shape_rules_are_typed_errors():
    with pytest.raises(InputError):
        bench.parse_shape("x=1,,3")
    specs = {"x": ((None, 3, 16, 16), "float32"), "ids": (("seq",), "int64")}
    shapes, defaults = bench.resolve_shapes(specs, {"x": (2, 3, 16, 16)})
    assert shapes == {"x": (2, 3, 16, 16), "ids": (1,)} and defaults == [
        "ids dim 0 (seq) = 1 (declared ids=?; pass --shape to choose)"]
    with pytest.raises(InputError, match="rank 1"):
        bench.resolve_shapes(specs, {"ids": (1, 2)})
    inputs = bench.random_inputs(shapes, {"x": "float32", "ids": "int64"})
    assert inputs["x"].dtype == np.float32 and inputs["ids"].dtype == np.int64
    assert 0 <= inputs["ids"].min() and inputs["ids"].max() < bench.SMALL_INT_HIGH


def test_timing_env_leaves_a_loaded_numpy_alone(monkeypatch):
    """numpy is loaded in this process, so OpenBLAS has read its variables: they stay, and the note says so."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    notes = timing_env.prepare(1)
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell" and "already loaded" in notes[0]


# Runs `python -m jitmnn ...` (jitmnn/__main__.py through runpy, as -m does) and then lists every loaded
# module that came from the checkout's benchmarks/ or tests/ folders.
OUTSIDE_CHECKOUT = """
import runpy, sys
root = sys.argv.pop(1)
sys.argv[0] = "jitmnn"
try:
    runpy.run_module("jitmnn", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as e:
    code = e.code
leaked = sorted(n for n, m in list(sys.modules.items())
                if any(str(getattr(m, "__file__", None) or "").startswith(f"{root}/{d}/") for d in ("benchmarks", "tests")))
print("LEAKED", leaked)
sys.exit(code)
"""


def test_bench_runs_outside_the_checkout(model_file, tmp_path):
    """As after `pip install .`: cwd elsewhere, no repo path added; also drops OPENBLAS_CORETYPE before numpy."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OPENBLAS_CORETYPE"] = "Haswell"
    p = subprocess.run([sys.executable, "-c", OUTSIDE_CHECKOUT, str(ROOT), "bench", model_file, "--time", SHORT],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "LEAKED []" in p.stdout, p.stdout
    assert "jitmnn/ORT: p50 x" in p.stdout and "-> agree" in p.stdout, p.stdout
    assert "unset OPENBLAS_CORETYPE for this timing run" in p.stdout, p.stdout
