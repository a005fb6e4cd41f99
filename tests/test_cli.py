"""The `jitmnn` command line: each subcommand on a tiny model, and user errors exit non-zero with a one-line
message, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from jitmnn import cli  # noqa: E402


def _save(model, path):
    onnx.save(model, str(path))
    return str(path)


def tiny_model():
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "W")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def unsupported_model():
    nodes = [helper.make_node("FancyOp", ["x"], ["a"]), helper.make_node("OtherOp", ["a"], ["y"])]
    g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture
def converted(tmp_path):
    src = _save(tiny_model(), tmp_path / "tiny.onnx")
    dst = str(tmp_path / "tiny.jmnn")
    assert cli.main(["convert", src, dst]) == 0
    return dst


def test_convert_prints_the_report(tmp_path, capsys):
    src = _save(tiny_model(), tmp_path / "tiny.onnx")
    dst = str(tmp_path / "tiny.jmnn")
    assert cli.main(["convert", src, dst, "--details"]) == 0
    out = capsys.readouterr().out
    assert "nodes: 2 -> 1" in out and "fuse_activations 1" in out and "[fuse_activations]" in out
    assert os.path.exists(dst)
    assert cli.main(["convert", src, dst, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ops_after"] == {"Conv": 1} and report["output_bytes"] == os.path.getsize(dst)


def test_unsupported_ops_exit_nonzero_naming_all(tmp_path, capsys):
    src = _save(unsupported_model(), tmp_path / "bad.onnx")
    assert cli.main(["convert", src, str(tmp_path / "bad.jmnn")]) != 0
    err = capsys.readouterr().err
    assert "FancyOp" in err and "OtherOp" in err and "Traceback" not in err


def test_user_errors_are_one_line_messages(tmp_path, capsys, converted):
    cases = [
        ["convert", str(tmp_path / "missing.onnx"), str(tmp_path / "o.jmnn")],
        ["verify", str(tmp_path / "missing.jmnn")],
        ["info", str(tmp_path / "tiny.onnx")],  # an ONNX file is not a .jmnn file
        ["explain", converted],  # the batch dimension is dynamic: --shape is required
        ["explain", converted, "--shape", "nope=1,3,8,8"],
    ]
    for argv in cases:
        assert cli.main(argv) == cli.USER_ERROR, argv
        err = capsys.readouterr().err
        assert err.startswith(f"jitmnn {argv[0]}: error:") and err.count("\n") == 1, err


def test_verify_detects_corruption(converted, capsys):
    assert cli.main(["verify", converted]) == 0
    assert "ok" in capsys.readouterr().out
    with open(converted, "r+b") as f:
        f.seek(-100, os.SEEK_END)  # inside the weight blob (the file ends with < 64 bytes of alignment)
        f.write(b"\xff" * 8)
    assert cli.main(["verify", converted]) == cli.USER_ERROR
    assert "checksum" in capsys.readouterr().err


def test_info_lists_ops_inputs_outputs_sizes(converted, capsys):
    assert cli.main(["info", converted]) == 0
    out = capsys.readouterr().out
    assert "input  x: float32 ['?', 3, 8, 8]" in out and "output y" in out and "Conv x1" in out
    assert "relu x1" in out
    assert cli.main(["info", converted, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["file_bytes"] == os.path.getsize(converted) and info["ops"] == {"Conv": 1}


def test_knobs(capsys):
    assert cli.main(["knobs"]) == 0
    assert "FASTMATH = " in capsys.readouterr().out


def test_explain(converted, capsys):
    assert cli.main(["explain", converted, "--shape", "x=2,3,8,8", "--memory", "low", "--precision", "high"]) == 0
    out = capsys.readouterr().out
    assert "memory=low" in out and "precision=high" in out and "conv" in out


def test_entry_point_runs_without_traceback(tmp_path):
    """The installed console script path: `python -m jitmnn.cli` behaves like `jitmnn`."""
    src = _save(unsupported_model(), tmp_path / "bad.onnx")
    r = subprocess.run([sys.executable, "-m", "jitmnn.cli", "convert", src, str(tmp_path / "o.jmnn")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "FancyOp" in r.stderr


def test_commands_are_pluggable():
    """A later command (bench, calibrate) is one decorated function."""
    try:
        @cli.command("hello-test", "test command", cli.arg("--who", default="world"))
        def hello(args):
            print(f"hello {args.who}")
            return 3

        assert cli.main(["hello-test", "--who", "jitmnn"]) == 3
    finally:
        cli.COMMANDS.pop("hello-test", None)


def test_version_and_python_dash_m():
    """`jitmnn --version` and `python -m jitmnn` (the same CLI without the console script)."""
    import subprocess
    import sys

    import jitmnn

    out = subprocess.run([sys.executable, "-m", "jitmnn", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"jitmnn {jitmnn.__version__}"
    knobs = subprocess.run([sys.executable, "-m", "jitmnn", "knobs"], capture_output=True, text=True, check=True)
    assert "GEMM_MIN_MACS_PER_THREAD" in knobs.stdout
