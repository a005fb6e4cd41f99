"""Offline quantization (jitmnn/quant): calibration, the compression-params file and every way applying it
can go wrong loudly (MNN users got an unchanged float model and no message), mixed precision under a
budget, the full-int8 GEMM experiment, and the calibration notebook."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

import jitmnn
import jitmnn.quant as Q
from jitmnn import cli
from jitmnn.errors import ParamsError
from jitmnn.models import onnx_path, prepare_model, sample_input, zoo
from tests.tolerances import INT8

FEW = 6  # calibration samples in fast tests: below RECOMMENDED_SAMPLES on purpose (warned)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("quant")
    src = onnx_path("tiny_cnn", str(d))
    return d, src


def _inputs(n, seed=0):
    return [sample_input("tiny_cnn", seed=seed + i) for i in range(n)]


@pytest.fixture(scope="module")
def tiny_params(work):
    d, src = work
    out = d / "tiny.params.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        Q.calibrate(src, _inputs(FEW), out=str(out), progress=False)
    return str(out)


def _other_model(d):
    from jitmnn.converter.export import save_onnx

    path = str(d / "tiny_seed1.onnx")
    if not os.path.exists(path):
        save_onnx(zoo.tiny_cnn(seed=1), path)
    return path


def _edit(path, d, name, fn):
    params = json.load(open(path))
    fn(params)
    out = d / name
    json.dump(params, open(out, "w"))
    return str(out)


# ----- the params file --------------------------------------------------------------------------------------
def test_params_file_is_versioned_hashed_and_complete(work, tiny_params):
    d, src = work
    p = Q.load_params(tiny_params)
    assert p["version"] == 1 and p["model"]["sha256"] == Q.model_hash(src)
    assert p["calibration"]["samples"] == FEW and p["calibration"]["method"] == "percentile"
    # every weighted layer of the converted graph, each with what the issue asks a layer entry to carry
    assert set(p["layers"]) == {"stem.conv", "block.expand.conv", "block.dw.conv", "block.project.conv",
                                "down.conv", "output"}
    e = p["layers"]["block.dw.conv"]
    assert e["weight"] == "block.dw.conv.weight" and e["bits"] == 8 and e["block_size"] == 0
    assert np.asarray(e["scales"]).shape == (17, 1) and e["zero_points"] is None
    assert "block.dw.bn" in e["fused_from"]  # the BatchNormalization folded into it
    lo, hi = e["activation"]["input"]["range"]
    assert 0 <= lo < hi <= e["activation"]["input"]["max"] + 1e-6  # after Relu6: non-negative


def test_convert_with_params_differs_from_without(work, tiny_params):
    d, src = work
    r0 = jitmnn.convert(src, str(d / "plain.jmnn"))
    r1 = jitmnn.convert(src, str(d / "q.jmnn"), compression_params=tiny_params)
    assert r1["output_bytes"] < r0["output_bytes"]
    assert r1["weights_bytes_after"] < 0.4 * r0["weights_bytes_after"]
    stored = {str(getattr(v, "storage", "fp32")) for v in jitmnn.format.load(str(d / "q.jmnn")).constants.values()}
    assert "int8 per-channel" in stored
    assert all(r["storage"] != "fp32" for r in r1["compression"])  # small layers too: the file named them
    x = sample_input("tiny_cnn", seed=99)
    a = jitmnn.load(str(d / "plain.jmnn")).run({"input": x})["output"]
    b = jitmnn.load(str(d / "q.jmnn")).run({"input": x})["output"]
    assert not np.array_equal(a, b)
    assert np.abs(a - b).max() / max(1.0, np.abs(a).max()) < INT8


def test_params_applied_scales_are_the_files(work, tiny_params):
    """The converter quantizes with the calibrated scales, not with its own max |w|."""
    d, src = work
    doubled = _edit(tiny_params, d, "doubled.json", lambda p: p["layers"]["down.conv"].update(
        scales=(np.asarray(p["layers"]["down.conv"]["scales"]) * 2).tolist()))
    jitmnn.convert(src, str(d / "doubled.jmnn"), compression_params=doubled)
    t = jitmnn.format.load(str(d / "doubled.jmnn")).constants["down.conv.weight"]
    want = np.asarray(json.load(open(doubled))["layers"]["down.conv"]["scales"], np.float32)
    np.testing.assert_array_equal(t.scale, want)
    assert np.abs(t.data).max() <= 64  # doubled step: codes use half the range


def test_bias_correction_is_folded_into_the_bias(work, tiny_params):
    """bias_correction (the mean output shift of the quantized weights on the calibration data) is added
    to the layer's bias, as a new constant; calibrate(bias_correction=False) leaves biases alone."""
    d, src = work
    p = json.load(open(tiny_params))
    corr = np.asarray(p["layers"]["down.conv"]["bias_correction"], np.float32)
    assert corr.shape == (24,) and np.any(corr != 0)
    jitmnn.convert(src, str(d / "plain_bc.jmnn"))
    plain = jitmnn.format.load(str(d / "plain_bc.jmnn"))
    jitmnn.convert(src, str(d / "bc.jmnn"), compression_params=tiny_params)
    q = jitmnn.format.load(str(d / "bc.jmnn"))
    bias = next(n.inputs[2] for n in q.nodes if n.name == "down.conv")
    stored = q.constants[bias]
    assert getattr(stored, "kind", None) == "fp16", "an int8 layer's bias is stored fp16 by default"
    # fp16 storage: each value within half an fp16 ulp (2^-11 relative) of the corrected fp32 bias
    np.testing.assert_allclose(stored.to_float(), np.asarray(plain.constants[bias]) + corr, rtol=2 ** -11, atol=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        off = Q.calibrate(src, _inputs(FEW), bias_correction=False, progress=False)
    assert all("bias_correction" not in e for e in off["layers"].values())
    bad = _edit(tiny_params, d, "bad_corr.json", lambda p: p["layers"]["down.conv"].update(bias_correction=[1.0] * 5))
    with pytest.raises(ParamsError, match="bias_correction has 5 values"):
        jitmnn.convert(src, str(d / "bad_corr.jmnn"), compression_params=bad)


def test_layer_found_by_a_fused_name(work, tiny_params):
    """An entry keyed by the BatchNormalization name the converter fused away still finds its conv."""
    d, src = work
    renamed = _edit(tiny_params, d, "by_bn.json",
                    lambda p: p["layers"].__setitem__("down.bn", p["layers"].pop("down.conv")))
    r = jitmnn.convert(src, str(d / "by_bn.jmnn"), compression_params=renamed)
    row = next(x for x in r["compression"] if x["layer"] == "down.conv")
    assert row["storage"].startswith("int8")


def test_hash_mismatch_is_an_error_naming_it(work, tiny_params, capsys):
    d, _ = work
    other = _other_model(d)
    with pytest.raises(ParamsError, match="model hash mismatch"):
        jitmnn.convert(other, str(d / "x.jmnn"), compression_params=tiny_params)
    code = cli.main(["convert", other, str(d / "x.jmnn"), "--compression-params", tiny_params])
    err = capsys.readouterr().err
    assert code != 0 and "model hash mismatch" in err and "Traceback" not in err
    assert not os.path.exists(d / "x.jmnn")


def test_params_that_match_no_layer_are_an_error_not_a_float_model(work, tiny_params, capsys):
    d, src = work

    def rename(p):
        p["layers"] = {f"gone/{k}": dict(e, weight=f"gone/{e['weight']}") for k, e in p["layers"].items()}

    bad = _edit(tiny_params, d, "unknown.json", rename)
    code = cli.main(["convert", src, str(d / "u.jmnn"), "--compression-params", bad])
    err = capsys.readouterr().err
    assert code != 0 and "do not exist in the model" in err and "gone/stem.conv" in err
    assert not os.path.exists(d / "u.jmnn")


def test_one_unknown_layer_is_an_error_too(work, tiny_params):
    d, src = work
    bad = _edit(tiny_params, d, "one_unknown.json",
                lambda p: p["layers"].__setitem__("no.such.conv", dict(p["layers"]["stem.conv"], weight="nope")))
    with pytest.raises(ParamsError, match="'no.such.conv'"):
        jitmnn.convert(src, str(d / "o.jmnn"), compression_params=bad)


def test_params_that_change_nothing_are_an_error(work, tiny_params):
    d, src = work
    noop = _edit(tiny_params, d, "noop.json", lambda p: [e.update(kind="fp32") for e in p["layers"].values()])
    with pytest.raises(ParamsError, match="changes nothing"):
        jitmnn.convert(src, str(d / "n.jmnn"), compression_params=noop)


@pytest.mark.parametrize("edit,match", [
    (lambda p: p["layers"]["down.conv"].update(scales=[[1.0]] * 3), "scales have shape"),
    (lambda p: p["layers"]["down.conv"].update(weight_shape=[1, 2, 3, 4]), "weight shape"),
    (lambda p: p.update(version=99), "version 99"),
    (lambda p: p["layers"]["down.conv"].update(kind="int3"), "kind must be one of"),
])
def test_malformed_params_name_the_problem(work, tiny_params, edit, match):
    d, src = work
    bad = _edit(tiny_params, d, "bad.json", edit)
    with pytest.raises(ParamsError, match=match):
        jitmnn.convert(src, str(d / "b.jmnn"), compression_params=bad)


def test_params_do_not_combine_with_global_storage(work, tiny_params):
    d, src = work
    with pytest.raises(ParamsError, match="do not combine"):
        jitmnn.convert(src, str(d / "c.jmnn"), compression_params=tiny_params, weight_quant_bits=8)


# ----- calibration ------------------------------------------------------------------------------------------
def test_too_few_samples_warn(work):
    _, src = work
    with pytest.warns(Q.CalibrationWarning, match="at least 100 are recommended"):
        Q.calibrate(src, _inputs(3), progress=False)


def test_samples_limit_and_progress_bar(work, capsys):
    _, src = work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        p = Q.calibrate(src, _inputs(12), samples=10)
    err = capsys.readouterr().err
    assert p["calibration"]["samples"] == 10
    assert "calibrating [" in err and "10/10" in err


def test_recommended_sample_count_shows_progress_and_does_not_warn(work, capsys):
    _, src = work
    with warnings.catch_warnings():
        warnings.simplefilter("error", Q.CalibrationWarning)
        p = Q.calibrate(src, (sample_input("tiny_cnn", seed=i) for i in range(Q.RECOMMENDED_SAMPLES)),
                        samples=Q.RECOMMENDED_SAMPLES)
    err = capsys.readouterr().err
    assert p["calibration"]["samples"] == 100 and "100/100" in err and "50/100" in err


@pytest.mark.parametrize("method", Q.METHODS)
def test_methods_give_ranges_inside_min_max(work, method):
    _, src = work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        p = Q.calibrate(src, _inputs(FEW), method=method, progress=False)
    for e in p["layers"].values():
        a = e["activation"]["input"]
        assert a["min"] - 1e-6 <= a["range"][0] <= a["range"][1] <= a["max"] + 1e-6
        if method == "minmax":
            assert a["range"] == [a["min"], a["max"]]


def test_percentile_and_kl_clip_a_heavy_tail():
    from jitmnn.quant.calibrate import TensorStats

    rng = np.random.default_rng(0)
    s = TensorStats(1, histogram=True)
    for i in range(4):  # later batches widen the histogram (bins merged exactly)
        x = rng.standard_normal((1, 4, 64, 64)).astype(np.float32) * (1 + i)
        x[0, 0, 0, 0] = 200.0 * (i + 1)  # one outlier per batch
        s.add(x)
    assert s.hist.sum() == 4 * 4 * 64 * 64
    assert s.clip_threshold("minmax") == pytest.approx(800.0)
    assert 5 < s.clip_threshold("percentile") < 40
    assert s.clip_threshold("kl") < 100


def test_weight_clip_search_never_worse_than_max_abs():
    from jitmnn.quant.calibrate import search_scales

    rng = np.random.default_rng(1)
    w = rng.standard_normal((13, 7, 3, 3)).astype(np.float32)
    w[0, 0, 0, 0] = 12.0  # an outlier a smaller scale should clip
    imp = np.ones(w.shape)
    _, err_max = search_scales(w, imp, 4, 0, search=False)
    _, err_search = search_scales(w, imp, 4, 0, search=True)
    assert err_search < err_max


def test_load_data_directory_and_npz(tmp_path):
    a = np.zeros((5, 1, 3, 4, 4), np.float32)  # a stack of five batches
    np.savez(tmp_path / "stack.npz", x=a)
    np.save(tmp_path / "one.npy", np.ones((2, 3, 4, 4), np.float32))  # one batch of two
    got = Q.load_data(tmp_path, ["x"], {"x": 4})
    assert len(got) == 6 and got[0]["x"].shape == (2, 3, 4, 4)
    with pytest.raises(ParamsError, match="rank"):
        Q.load_data(tmp_path / "stack.npz", ["x"], {"x": 3})
    with pytest.raises(ParamsError, match="no such file"):
        Q.load_data(tmp_path / "missing", ["x"], {"x": 4})


def test_cli_calibrate_then_convert(work, capsys):
    d, src = work
    data = d / "calib.npz"
    np.savez(data, x=np.stack(_inputs(5)))
    out = d / "cli.params.json"
    assert cli.main(["calibrate", src, "--data", str(data), "--out", str(out), "--method", "kl",
                     "--no-bias-correction"]) == 0
    assert json.load(open(out))["calibration"]["bias_correction"] is False
    cap = capsys.readouterr()
    assert "5/5" in cap.err and "warning: calibrated on 5 sample(s)" in cap.err
    assert "calibrated 6 layers on 5 samples" in cap.out
    assert cli.main(["convert", src, str(d / "cli.jmnn"), "--compression-params", str(out)]) == 0
    table = capsys.readouterr().out
    assert "compression params" in table and "block.dw.conv" in table and "KB before" in table


def test_cli_calibrate_bad_data_is_one_line(work, capsys):
    d, src = work
    code = cli.main(["calibrate", src, "--data", str(d / "nothing_here"), "--out", str(d / "p.json")])
    err = capsys.readouterr().err
    assert code != 0 and "no such file or directory" in err and "Traceback" not in err


# ----- accuracy and mixed precision -------------------------------------------------------------------------
def test_compare_reports_error_and_top1(work, tiny_params):
    d, src = work
    jitmnn.convert(src, str(d / "plain2.jmnn"))
    jitmnn.convert(src, str(d / "q2.jmnn"), compression_params=tiny_params)
    r = Q.compare(str(d / "plain2.jmnn"), str(d / "q2.jmnn"), _inputs(4, seed=500))
    assert r["samples"] == 4 and 0 < r["rel_error_max"] < 0.05 and "top1_agreement" in r


def test_mixed_precision_meets_a_budget_and_reports_the_choice(work):
    d, src = work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        params, rep = Q.choose_precision(src, _inputs(FEW), _inputs(4, seed=700), max_rel_error=0.03,
                                         progress=False, out=str(d / "mixed.json"))
    assert rep["budget_met"] and rep["heldout"]["rel_error_max"] <= 0.03
    assert set(rep["choice"].values()) <= {"int4", "int8", "fp16"}
    assert rep["weight_bytes_chosen"] < rep["weight_bytes_fp32"]
    from jitmnn.quant.sensitivity import format_choice

    assert "int4 x" in format_choice(rep)
    # the file converts, and the converted model honours the measured budget
    jitmnn.convert(src, str(d / "mixed.jmnn"), compression_params=str(d / "mixed.json"))
    jitmnn.convert(src, str(d / "plain3.jmnn"))
    r = Q.compare(str(d / "plain3.jmnn"), str(d / "mixed.jmnn"), _inputs(4, seed=700))
    assert r["rel_error_max"] == pytest.approx(rep["heldout"]["rel_error_max"], rel=1e-3, abs=1e-6)


def test_a_tight_budget_moves_layers_up(work):
    d, src = work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        _, rep = Q.choose_precision(src, _inputs(FEW), _inputs(3, seed=800), max_rel_error=1e-3, progress=False)
    assert rep["counts"]["fp16"] > 0 and rep["counts"]["int4"] == 0


def test_measured_sensitivity_records_each_layer(work):
    _, src = work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        _, rep = Q.choose_precision(src, _inputs(FEW), _inputs(3, seed=900), max_rel_error=0.03,
                                    sensitivity="measured", progress=False)
    measured = [s.get("measured_int4") for s in rep["sensitivity"].values()]
    assert all(m is not None and m > 0 for m in measured) and rep["budget_met"]
    with pytest.raises(ParamsError, match="budget"):
        Q.choose_precision(src, _inputs(2), _inputs(1), progress=False)


# ----- full int8 experiment ---------------------------------------------------------------------------------
def test_int8_gemm_matches_float_reference():
    from jitmnn.quant import full_int8 as F

    rng = np.random.default_rng(2)
    a = rng.integers(-127, 128, (17, 45)).astype(np.int8)
    b = rng.integers(-127, 128, (45, 13)).astype(np.int8)
    out = np.empty((17, 13), np.int32)
    F.gemm_s8s8s32(a, b, out)
    np.testing.assert_array_equal(out, a.astype(np.int64) @ b.astype(np.int64))


# ----- whole models (slow) ----------------------------------------------------------------------------------
RATIO_MAX = 0.27  # the bar: 8-bit file <= 0.27x the fp32 model, both as ONNX and as our own .jmnn


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "ppocr_det"])
def test_8bit_file_is_at_most_027_of_fp32(tmp_path_factory, name):
    d = tmp_path_factory.mktemp(f"q_{name}")
    src, fp32 = prepare_model(name, str(d))
    shape = (1, 3, 320, 320) if name == "ppocr_det" else None  # fully convolutional: smaller calibration pages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.CalibrationWarning)
        Q.calibrate(src, [sample_input(name, shape, seed=i) for i in range(4)], out=str(d / "p.json"),
                    progress=False)
    jitmnn.convert(src, str(d / "q.jmnn"), compression_params=str(d / "p.json"))
    ratio = os.path.getsize(d / "q.jmnn") / os.path.getsize(src)
    assert ratio <= RATIO_MAX, f"{name}: 8-bit file is {ratio:.4f}x the fp32 ONNX file"
    ratio = os.path.getsize(d / "q.jmnn") / os.path.getsize(fp32)
    assert ratio <= RATIO_MAX, f"{name}: 8-bit file is {ratio:.4f}x the fp32 .jmnn"
    r = Q.compare(fp32, str(d / "q.jmnn"), [sample_input(name, shape, seed=1000)])
    assert r["rel_error_max"] < 0.1


@pytest.mark.slow
def test_calibration_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    here = os.path.dirname(os.path.abspath(__file__))
    nb = nbformat.read(os.path.join(here, "..", "examples", "calibration.ipynb"), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "rel. error" in text and "x fp32" in text
