"""The .jmnn file: round trip, memory-mapped weights, and typed errors for every kind of damage."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jitmnn
from jitmnn import format as jformat
from jitmnn.compression import compress
from jitmnn.errors import ModelFormatError
from jitmnn.graph import Graph, Node, TensorInfo


def _graph():
    rng = np.random.default_rng(0)
    consts = {
        "w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "idx": np.arange(5, dtype=np.int64),
        "q": compress(rng.standard_normal((16, 40)).astype(np.float32), "int4", 8, True),
    }
    nodes = [Node("r1", "Relu", ["x"], ["y"]), Node("r2", "Relu", ["y"], ["z"])]
    return Graph("t", nodes, [TensorInfo("x", (None, 3, 4, 4))], ["z"], consts)


@pytest.fixture
def saved(tmp_path):
    path = str(tmp_path / "m.jmnn")
    jformat.save(_graph(), path)
    return path


def test_round_trip_maps_weights_read_only(saved):
    g = jformat.load(saved)
    ref = _graph()
    np.testing.assert_array_equal(g.constants["w"], ref.constants["w"])
    np.testing.assert_array_equal(g.constants["idx"], ref.constants["idx"])
    np.testing.assert_array_equal(g.constants["q"].to_float(), ref.constants["q"].to_float())
    assert not g.constants["w"].flags.writeable
    assert isinstance(g.constants["w"].base, np.memmap) or isinstance(g.constants["w"].base.base, np.memmap)
    assert g.constants["w"].ctypes.data % jformat.BLOB_ALIGN == 0
    assert [n.name for n in g.nodes] == ["r1", "r2"]
    assert g.inputs[0].shape == (None, 3, 4, 4)
    jformat.verify(saved)


def test_truncated_file_raises_typed_error(saved):
    data = open(saved, "rb").read()
    for cut in (0, 10, len(data) // 3, len(data) - 1):
        with open(saved, "wb") as f:
            f.write(data[:cut])
        with pytest.raises(ModelFormatError):
            jformat.load(saved)
        with pytest.raises(ModelFormatError):
            jitmnn.load(saved)


def test_bad_magic_and_version(saved):
    data = bytearray(open(saved, "rb").read())
    bad = bytearray(data)
    bad[0:4] = b"ONNX"
    open(saved, "wb").write(bad)
    with pytest.raises(ModelFormatError, match="magic"):
        jformat.load(saved)
    bad = bytearray(data)
    bad[8] = 99
    open(saved, "wb").write(bad)
    with pytest.raises(ModelFormatError, match="version"):
        jformat.load(saved)


def test_corrupted_header_bytes(saved):
    data = bytearray(open(saved, "rb").read())
    start = jformat._PREFIX.size
    for pos in (start + 1, start + 40, start + 200):
        bad = bytearray(data)
        bad[pos] = ord("}")
        open(saved, "wb").write(bad)
        with pytest.raises(ModelFormatError):
            jformat.load(saved)


def test_corrupted_blob_caught_by_verify(saved):
    data = bytearray(open(saved, "rb").read())
    data[-100] ^= 0xFF
    open(saved, "wb").write(data)
    jformat.load(saved)  # load does not read blobs...
    with pytest.raises(ModelFormatError, match="checksum"):
        jformat.verify(saved)  # ...verify does


def test_missing_file():
    with pytest.raises(ModelFormatError, match="cannot open"):
        jformat.load("/nonexistent/model.jmnn")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8))
def test_random_byte_damage_never_crashes(tmp_path, flips):
    path = str(tmp_path / "fuzz.jmnn")
    if not os.path.exists(path):
        jformat.save(_graph(), path)
    data = bytearray(open(path, "rb").read())
    for pos, val in flips:
        data[pos % len(data)] = val
    bad = str(tmp_path / "bad.jmnn")
    open(bad, "wb").write(data)
    try:
        g = jformat.load(bad)
    except ModelFormatError:
        return
    # whatever loaded must be self-consistent: every constant lies inside the file
    for c in g.constants.values():
        assert c.nbytes <= len(data)
