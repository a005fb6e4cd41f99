"""The .jmnn file: magic, version, a length-prefixed JSON header (graph + constant table), then constant
blobs (64-byte aligned; since version 2 blobs under SMALL_BLOB_BYTES are 16-byte aligned). Loading is a
read-only memory map: weights are views into the file, so a loaded model costs almost no RAM and its
pages are shared by clones and processes.

Every load checks magic, version, header bounds and every blob range against the file size; a
truncated or corrupt file raises ModelFormatError naming what is wrong and never reaches a kernel."""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import zlib

import numpy as np

from .errors import ModelFormatError
from .graph import Graph, Node, TensorInfo

MAGIC = b"JITMNN\x00\x01"
FORMAT_VERSION = 2
# Version 1 aligned every blob to 64 bytes; version 2 packs small blobs (biases, scales) at 16. A small
# model's int4 file has ~150 blobs, and 64-byte padding alone was 4% of it.
READABLE_VERSIONS = (1, 2)
_PREFIX = struct.Struct("<8sIIQ")  # magic, version, flags, header length
BLOB_ALIGN = 64
SMALL_BLOB_ALIGN = 16
SMALL_BLOB_BYTES = 1024
ALLOWED_DTYPES = {"float32", "float16", "uint16", "int8", "uint8", "int32", "int64", "float64", "bool", "int16",
                  "uint32", "uint64"}
MAX_HEADER_BYTES = 256 << 20
FLAG_ZLIB_HEADER = 1


def _align(n: int, a: int = BLOB_ALIGN) -> int:
    return (n + a - 1) // a * a


def _blob_start(offset: int, nbytes: int) -> int:
    """Where a blob of `nbytes` goes at or after `offset`: cache-line aligned unless it is small."""
    return _align(offset, BLOB_ALIGN if nbytes >= SMALL_BLOB_BYTES else SMALL_BLOB_ALIGN)


def _graph_to_json(graph: Graph) -> dict:
    return {
        "name": graph.name,
        "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in graph.inputs],
        "outputs": list(graph.outputs),
        "nodes": [
            {"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs, "attrs": n.attrs}
            for n in graph.nodes
        ],
    }


def _flat_constants(graph: Graph):
    """(name, array, extra) for every stored array; a compressed constant contributes its parts."""
    for name, value in graph.constants.items():
        if hasattr(value, "to_parts"):
            meta, parts = value.to_parts()
            yield name, None, {"compressed": meta, "parts": sorted(parts)}
            for part_name, arr in parts.items():
                yield f"{name}::{part_name}", arr, None
        else:
            yield name, value, None


def save(graph: Graph, path: str, metadata: dict | None = None) -> int:
    """Write `graph` to `path`; returns the file size in bytes."""
    graph.validate()
    table = []
    compressed = {}
    blobs = []
    offset = 0
    crc = 0
    for name, arr, extra in _flat_constants(graph):
        if arr is None:
            compressed[name] = extra
            continue
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in ALLOWED_DTYPES:
            raise ModelFormatError(f"constant {name!r} has unsupported dtype {arr.dtype}")
        raw = arr.tobytes()
        start = _blob_start(offset, len(raw))
        crc = zlib.crc32(raw, zlib.crc32(b"\0" * (start - offset), crc))
        # Offsets and sizes follow from dtype, shape and the alignment rule, so the table does not store
        # them (nor a checksum per blob: one for the data region): 6.3 -> 4.2 KB of header for PP-OCR cls.
        table.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape)})
        blobs.append((start, raw))
        offset = start + len(raw)
    header = {
        "format_version": FORMAT_VERSION,
        "graph": _graph_to_json(graph),
        "constants": table,
        "data_crc32": crc,
        "compressed": compressed,
        "metadata": {**graph.metadata, **(metadata or {})},
    }
    # The header (graph + constant table) is JSON, zlib-compressed: ~60 KB -> ~10 KB for PP-OCRv4 det, which
    # matters when int4/int8 weights make the whole file a few MB. zlib's own checksum guards it.
    header_bytes = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    data_start = _align(_PREFIX.size + len(header_bytes))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, FLAG_ZLIB_HEADER, len(header_bytes)))
        f.write(header_bytes)
        f.write(b"\0" * (data_start - f.tell()))
        for start, raw in blobs:
            f.seek(data_start + start)
            f.write(raw)
        # The file ends exactly where the last blob does (no trailing pad), so any truncation cuts data
        # and is caught by the range checks on load.
        f.truncate(data_start + offset)
    os.replace(tmp, path)
    return os.path.getsize(path)


def _read_header(path: str):
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise ModelFormatError(f"cannot open model file {path!r}: {e}") from e
    if size < _PREFIX.size:
        raise ModelFormatError(f"{path}: file is {size} bytes, too short to be a .jmnn model (truncated?)")
    with open(path, "rb") as f:
        magic, version, flags, header_len = _PREFIX.unpack(f.read(_PREFIX.size))
        if magic != MAGIC:
            if _looks_like_onnx(path, magic):
                raise ModelFormatError(
                    f"{path} is an ONNX model, not a .jmnn file: convert it once with jitmnn.convert(onnx_path, "
                    f"'model.jmnn') (or `jitmnn convert`) and load the .jmnn, or open it with "
                    f"jitmnn.InferenceSession(onnx_path), which converts it once into a cache")
            raise ModelFormatError(f"{path}: not a .jmnn file (bad magic {magic!r})")
        if version not in READABLE_VERSIONS:
            raise ModelFormatError(f"{path}: format version {version}, this jitmnn reads versions "
                                   f"{', '.join(map(str, READABLE_VERSIONS))}")
        if header_len > MAX_HEADER_BYTES or _PREFIX.size + header_len > size:
            raise ModelFormatError(f"{path}: header length {header_len} runs past the end of the file ({size} bytes)")
        raw = f.read(header_len)
    if flags & ~FLAG_ZLIB_HEADER:
        raise ModelFormatError(f"{path}: unknown header flags {flags:#x}")
    try:
        if flags & FLAG_ZLIB_HEADER:
            unz = zlib.decompressobj()
            raw = unz.decompress(raw, MAX_HEADER_BYTES)
            if unz.unconsumed_tail or not unz.eof:
                raise ModelFormatError(f"{path}: header is truncated or larger than {MAX_HEADER_BYTES} bytes")
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, zlib.error) as e:
        raise ModelFormatError(f"{path}: header is corrupt ({e})") from e
    if not isinstance(header, dict) or header.get("format_version") != version:
        raise ModelFormatError(f"{path}: header is corrupt (no matching format_version)")
    return header, _align(_PREFIX.size + header_len), size, version


def is_jmnn(path) -> bool:
    """Does the file start with the .jmnn magic (as opposed to, say, an ONNX protobuf)?"""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError as e:
        raise ModelFormatError(f"cannot open model file {os.fspath(path)!r}: {e}") from e


def _looks_like_onnx(path, magic: bytes) -> bool:
    """By extension, else (only now that the magic check failed) by parsing the file as an ONNX protobuf,
    whose first field is ir_version (tag byte 0x08)."""
    if str(path).lower().endswith(".onnx"):
        return True
    if magic[:1] != b"\x08":
        return False
    try:
        import onnx

        onnx.load(path, load_external_data=False)
    except Exception:  # not ONNX either: the plain bad-magic message stands
        return False
    return True


def _entries(path, header, version, data_start, size):
    """(name, dtype, shape, offset, nbytes, crc32 or None) of every stored array, each range checked
    against the file. Version 1 tables list offsets (64-aligned) and per-blob CRCs; version 2 offsets
    follow from the sizes and the alignment rule."""
    table = header.get("constants")
    if not isinstance(table, list):
        raise ModelFormatError(f"{path}: constant table is missing")
    out = []
    end = 0
    align = BLOB_ALIGN if version == 1 else SMALL_BLOB_ALIGN
    for e in table:
        try:
            name, dtype, shape = str(e["name"]), np.dtype(e["dtype"]), tuple(int(d) for d in e["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFormatError(f"{path}: corrupt constant table entry {e!r}: {err}") from err
        if dtype.name not in ALLOWED_DTYPES or any(d < 0 for d in shape):
            raise ModelFormatError(f"{path}: constant {name!r} has invalid dtype/shape {dtype}/{shape}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if version == 1:
            try:
                offset, stored = int(e["offset"]), int(e["nbytes"])
            except (KeyError, TypeError, ValueError) as err:
                raise ModelFormatError(f"{path}: corrupt constant table entry {e!r}: {err}") from err
            if stored != nbytes:
                raise ModelFormatError(f"{path}: constant {name!r}: {stored} bytes do not hold shape {shape} of {dtype}")
        else:
            offset = _blob_start(end, nbytes)
        if offset < 0 or offset % align or data_start + offset + nbytes > size:
            raise ModelFormatError(
                f"{path}: constant {name!r} (bytes {offset}..{offset + nbytes}) lies outside the file"
                f" ({size - data_start} data bytes): truncated or corrupt"
            )
        end = offset + nbytes
        out.append((name, dtype, shape, offset, nbytes, e.get("crc32")))
    return out


def _graph_from_json(path, g: dict) -> Graph:
    try:
        nodes = [Node(n["name"], n["op"], list(n["inputs"]), list(n["outputs"]), dict(n["attrs"])) for n in g["nodes"]]
        inputs = [TensorInfo(t["name"], tuple(t["shape"]), t["dtype"]) for t in g["inputs"]]
        return Graph(g["name"], nodes, inputs, list(g["outputs"]), {})
    except (KeyError, TypeError) as e:
        raise ModelFormatError(f"{path}: graph section is corrupt ({e!r})") from e


def load(path: str) -> Graph:
    """Open a .jmnn file; constants are read-only views into one memory map of the file."""
    header, data_start, size, version = _read_header(path)
    graph = _graph_from_json(path, header.get("graph", {}))
    entries = _entries(path, header, version, data_start, size)
    mm = _map_file(path) if size > data_start else np.zeros(0, np.uint8)
    arrays = {}
    for name, dtype, shape, offset, nbytes, _ in entries:
        start = data_start + offset
        arrays[name] = mm[start : start + nbytes].view(dtype).reshape(shape)
    for name, extra in (header.get("compressed") or {}).items():
        from .compression import CompressedTensor  # local: only files with compressed weights need it

        try:
            parts = {p: arrays.pop(f"{name}::{p}") for p in extra["parts"]}
            arrays[name] = CompressedTensor.from_parts(extra["compressed"], parts)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFormatError(f"{path}: compressed constant {name!r} is corrupt ({err!r})") from err
    graph.constants = arrays
    graph.metadata = dict(header.get("metadata") or {})
    graph.metadata["file_bytes"] = size
    graph.metadata["_stored_arrays"] = len(entries)
    try:
        graph.validate()
    except Exception as e:
        raise ModelFormatError(f"{path}: graph is inconsistent: {e}") from e
    return graph


def _map_file(path: str) -> np.ndarray:
    """The whole file as a read-only uint8 array over one mmap (the arrays' base chain ends at it)."""
    with open(path, "rb") as f:
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)


def release_file_pages(graph) -> bool:
    """Drop the model file's pages from this process's RSS once its weights have been copied (precision=low
    holds fp16 copies): the mapping stays valid, and a page read again is faulted back in from the page
    cache. Without this an fp32 file loaded at precision=low cost more RSS than at precision=normal.
    Returns whether a file mapping was found."""
    for a in graph.constants.values():
        mapping = file_mapping(a) if isinstance(a, np.ndarray) else None
        if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)
            return True
    return False


def file_mapping(a: np.ndarray):
    """The model file's mmap that array `a` is a view into, or None (a copy in RAM)."""
    base = a
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return base


def verify(path: str) -> None:
    """Recompute the data checksum (reads the whole file); raises ModelFormatError on a mismatch."""
    header, data_start, size, version = _read_header(path)
    entries = _entries(path, header, version, data_start, size)
    with open(path, "rb") as f:
        if version == 1:
            for name, _dt, _sh, offset, nbytes, crc in entries:
                f.seek(data_start + offset)
                if zlib.crc32(f.read(nbytes)) != crc:
                    raise ModelFormatError(f"{path}: checksum mismatch in constant {name!r}: the file is corrupt")
            return
        f.seek(data_start)
        crc = 0
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    if crc != header.get("data_crc32"):
        raise ModelFormatError(f"{path}: checksum mismatch in the weight data: the file is corrupt")


def content_hash(path: str) -> str:
    """sha256 of the file, used to tie compression-params files to one model."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
