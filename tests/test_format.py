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
    assert jformat.file_mapping(g.constants["w"]) is not None
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


def test_small_blobs_pack_at_16_bytes_large_at_64(tmp_path):
    """Version 2: blobs under SMALL_BLOB_BYTES are 16-byte aligned, larger ones 64 (cache lines); the
    table stores no offsets, sizes or per-blob checksums (they follow from dtype, shape and this rule)."""
    consts = {f"b{i}": np.full(i + 1, i, np.float32) for i in range(6)}
    consts["big"] = np.arange(1024, dtype=np.float32)
    g = Graph("t", [Node("r", "Relu", ["x"], ["y"])], [TensorInfo("x", (1,))], ["y"], consts)
    path = str(tmp_path / "a.jmnn")
    size = jformat.save(g, path)
    back = jformat.load(path)
    base = back.constants["b0"].ctypes.data
    for k, v in consts.items():
        np.testing.assert_array_equal(back.constants[k], v)
        off = back.constants[k].ctypes.data - base
        assert off % (jformat.BLOB_ALIGN if v.nbytes >= jformat.SMALL_BLOB_BYTES else jformat.SMALL_BLOB_ALIGN) == 0
    # six small blobs of 4..24 bytes take 16 or 32 bytes each, not 64
    assert back.constants["big"].ctypes.data - base <= 6 * 32 + 64
    header, _, _, version = jformat._read_header(path)
    assert version == jformat.FORMAT_VERSION == 2
    assert set(header["constants"][0]) == {"name", "dtype", "shape"} and "data_crc32" in header
    jformat.verify(path)
    assert size == os.path.getsize(path)


def _write_v1(path, arrays):
    """A version-1 file as the first release wrote it: every blob 64-aligned, offsets, sizes and a
    checksum per blob in the table."""
    import json
    import struct
    import zlib

    table, blobs, offset = [], [], 0
    for name, a in arrays.items():
        raw = a.tobytes()
        table.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape), "offset": offset,
                      "nbytes": len(raw), "crc32": zlib.crc32(raw)})
        blobs.append((offset, raw))
        offset = (offset + len(raw) + 63) // 64 * 64
    header = {"format_version": 1, "graph": {"name": "v1", "inputs": [{"name": "x", "shape": [1], "dtype": "float32"}],
              "outputs": ["y"], "nodes": [{"name": "r", "op": "Relu", "inputs": ["x"], "outputs": ["y"], "attrs": {}}]},
              "constants": table, "compressed": {}, "metadata": {}}
    hb = zlib.compress(json.dumps(header).encode())
    start = (24 + len(hb) + 63) // 64 * 64
    with open(path, "wb") as f:
        f.write(struct.pack("<8sIIQ", jformat.MAGIC, 1, jformat.FLAG_ZLIB_HEADER, len(hb)) + hb)
        f.write(b"\0" * (start - f.tell()))
        for off, raw in blobs:
            f.seek(start + off)
            f.write(raw)
    return start


def test_version_1_files_still_load_and_verify(tmp_path):
    path = str(tmp_path / "v1.jmnn")
    arrays = {"a": np.arange(3, dtype=np.float32), "b": np.ones((2, 5), np.int64)}
    start = _write_v1(path, arrays)
    g = jformat.load(path)
    for k, v in arrays.items():
        np.testing.assert_array_equal(g.constants[k], v)
    jformat.verify(path)
    with open(path, "r+b") as f:  # damage b's data: v1's per-blob checksum names it
        f.seek(start + 64)
        f.write(b"\xff")
    with pytest.raises(ModelFormatError, match="constant 'b'"):
        jformat.verify(path)
