"""Compressed weight storage: exact fp16/bf16 expansion and bounded int8/int4 error."""

import numpy as np
import pytest

from jitmnn.compression import CompressedTensor, compress


def test_fp16_expansion_is_bit_exact_for_every_half_value():
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    t = CompressedTensor("fp16", (256, 256), halves.reshape(256, 256))
    got = t.to_float().ravel()
    want = halves.view(np.float16).astype(np.float32)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all()


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
