"""Compressed weight storage: exact fp16/bf16 expansion and bounded int8/int4 error."""

import numpy as np
import pytest

from jitmnn.compression import CompressedTensor, compress


def _same_floats(got, want) -> bool:
    return bool(((got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))).all())


def test_fp16_expansion_is_bit_exact_for_every_half_value():
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    t = CompressedTensor("fp16", (256, 256), halves.reshape(256, 256))
    want = halves.view(np.float16).astype(np.float32)
    assert _same_floats(t.to_float().ravel(), want)
    # both expansion kernels, whichever this CPU uses: the F16C instruction and the table fallback
    from jitmnn.compression import _fp16_table
    from jitmnn.kernels import dequant

    for run in (lambda out: dequant.fp16_rows_f16c(halves.reshape(256, 256), 0, 256, out),
                lambda out: dequant.fp16_rows(halves.reshape(256, 256), _fp16_table(), 0, 256, out)):
        out = np.empty((256, 256), np.float32)
        run(out)
        assert _same_floats(out.ravel(), want)


def test_fp16_activation_store_rounds_like_numpy():
    """kernels/half.py's store (fptrunc) against numpy's astype(float16): nearest-even, overflow to inf,
    subnormals, signed zeros, on the values where rounding is decided (halfway points included)."""
    from jitmnn.kernels import unary

    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = np.unique(halves[np.isfinite(halves)].astype(np.float64))
    mids = (finite[:-1] + finite[1:]) / 2  # exact in float32: one bit more than fp16's mantissa
    x = np.concatenate([finite, mids, np.nextafter(mids.astype(np.float32), np.float32(np.inf)),
                        [70000.0, 65520.0, -1e9, 1e-9, np.inf, -np.inf]]).astype(np.float32)
    out = np.empty(x.size, np.uint16)
    unary.unary_basic(x, out, unary.IDENTITY, np.float32(0), np.float32(0))
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    assert np.array_equal(out, want)


def test_bf16_rounds_to_nearest_even():
    w = np.array([[1.0, 1.00390625, 1.0078125, -3.5e-3, 0.0]], np.float32)
    got = compress(w, "bf16").to_float()
    assert np.all(np.abs(got - w) <= np.abs(w) * 2**-8)


@pytest.mark.parametrize("kind,bits", [("int8", 8), ("int4", 4)])
@pytest.mark.parametrize("block", [0, 32, 7])
@pytest.mark.parametrize("asym", [False, True])
def test_int_error_within_half_a_step(kind, bits, block, asym):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((17, 13, 3, 3)).astype(np.float32)
    t = compress(w, kind, block, asym)
    t.validate()
    err = np.abs(t.to_float() - w).reshape(17, -1)
    # each block's error is at most half its quantization step (plus float rounding)
    step = np.repeat(t.scale, t.effective_block, axis=1)[:, : err.shape[1]]
    assert np.all(err <= step * 0.5 + 1e-6)


def test_int4_storage_is_a_quarter_of_int8_plus_scales():
    w = np.random.default_rng(0).standard_normal((64, 576)).astype(np.float32)
    t8, t4 = compress(w, "int8"), compress(w, "int4", 64)
    assert t8.data.nbytes == 64 * 576
    assert t4.data.nbytes == 64 * 288
    assert t4.nbytes <= 0.16 * w.nbytes


def test_expand_rows_panel_matches_full():
    w = np.random.default_rng(1).standard_normal((40, 33)).astype(np.float32)
    t = compress(w, "int4", 16, True)
    full = t.to_float()
    panel = np.empty((8, 33), np.float32)
    t.expand_rows(16, 24, panel)
    np.testing.assert_array_equal(panel, full[16:24])
    with pytest.raises(IndexError):
        t.expand_rows(36, 44, panel)


def test_corrupt_parts_are_rejected():
    t = compress(np.ones((4, 8), np.float32), "int8")
    meta, parts = t.to_parts()
    parts["scale"] = parts["scale"][:2]
    with pytest.raises(ValueError):
        CompressedTensor.from_parts(meta, parts)


def test_int4_log_coded_scales_round_up_and_survive_the_file(tmp_path):
    """Symmetric int4 stores each block's scale as one byte (log code under an fp32 base): the decoded
    scale is within 2^(1/32) of the block's absmax/7, so the error stays within half a step plus the
    (smaller) clip of the block's largest weight, and the file round trip gives bit-identical weights
    (rows here span 14 of the 16 octaves the codes cover)."""
    from jitmnn import format as jformat
    from jitmnn.graph import Graph, Node, TensorInfo

    rng = np.random.default_rng(5)
    w = (rng.standard_normal((48, 96)) * np.exp(rng.uniform(-7, 3, (48, 1)))).astype(np.float32)
    t = compress(w, "int4", 32)
    codes, base = t.scale_codes
    assert codes.dtype == np.uint8 and codes.shape == (48, 3)
    true = np.abs(w.reshape(48, 3, 32)).max(axis=2) / 7
    ratio = t.scale / true
    assert np.all(ratio >= 2 ** (-1 / 32) * (1 - 1e-6)) and np.all(ratio <= 2 ** (1 / 32) * (1 + 1e-6))
    err = np.abs(t.to_float() - w).reshape(48, 3, 32)
    clip = np.maximum(true * 7 - t.scale * 7, 0)
    assert np.all(err <= (t.scale * 0.5 + clip)[:, :, None] * (1 + 1e-5))
    meta, parts = t.to_parts()
    assert parts["scale"].nbytes == 48 * 3 and parts["scale_base"].dtype == np.float32
    path = str(tmp_path / "s.jmnn")
    g = Graph("s", [Node("r", "Relu", ["x"], ["y"])], [TensorInfo("x", (1,))], ["y"], {"w": t})
    jformat.save(g, path)
    back = jformat.load(path).constants["w"]
    np.testing.assert_array_equal(back.to_float(), t.to_float())
    bad = dict(parts, scale_base=np.array([1.0, 2.0], np.float32))
    with pytest.raises(ValueError, match="log-coded"):
        CompressedTensor.from_parts(meta, bad)


def test_int_modes_store_small_layers_and_biases_fp16():
    """Under int8/int4 a layer too small to quantize is stored fp16 (not fp32) and conv biases are fp16
    when lossless enough: otherwise fixed costs dominate a small model's file (PP-OCR cls int4 0.19x)."""
    from jitmnn.compression import compress_graph
    from jitmnn.graph import Graph, Node, TensorInfo

    rng = np.random.default_rng(0)
    consts = {"w_small": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),  # 108 weights
              "b_small": rng.standard_normal(4).astype(np.float32),
              "w_big": rng.standard_normal((16, 4, 3, 3)).astype(np.float32),
              "b_big": rng.standard_normal(16).astype(np.float32)}
    nodes = [Node("c1", "Conv", ["x", "w_small", "b_small"], ["y"], {"pads": [1, 1, 1, 1]}),
             Node("c2", "Conv", ["y", "w_big", "b_big"], ["z"], {"pads": [1, 1, 1, 1]})]
    g = Graph("g", nodes, [TensorInfo("x", (1, 3, 8, 8))], ["z"], dict(consts))
    rows = {r["layer"]: r for r in compress_graph(g, "int4", 32)}
    assert rows["c1"]["storage"] == "fp16" and "only 108 weights" in rows["c1"]["note"]
    assert g.constants["w_small"].kind == "fp16" and g.constants["w_big"].kind == "int4"
    for b in ("b_small", "b_big"):
        assert g.constants[b].kind == "fp16"
        np.testing.assert_allclose(g.constants[b].to_float(), consts[b], rtol=2 ** -11)
    keep = Graph("g", nodes, [TensorInfo("x", (1, 3, 8, 8))], ["z"], dict(consts))
    compress_graph(keep, "int8", layers={"c2": {"kind": "int8", "bias_kind": "fp32"}, "c1": {"kind": "fp32"}})
    assert keep.constants["b_big"] is consts["b_big"] and keep.constants["w_small"] is consts["w_small"]
