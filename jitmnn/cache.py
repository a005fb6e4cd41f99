"""Convert-once cache for ONNX models opened directly (jitmnn.InferenceSession("model.onnx")).

An ONNX model is converted the first time it is seen and the .jmnn kept in $JITMNN_CACHE_DIR (else
~/.cache/jitmnn) under a key made of the model's content hash, jitmnn's version and its converter's source: renaming or copying the
file finds the same entry, editing it (or upgrading jitmnn) makes a new one. Entries are written to a private
temporary file and moved into place with os.replace, so a second process converting the same model at the same
time never sees half a file (the later rename simply wins with identical content)."""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile

from . import __version__
from .errors import ConversionError

CACHE_DIR_ENV = "JITMNN_CACHE_DIR"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "jitmnn")
_HASH_CHUNK = 1 << 22


def cache_dir() -> str:
    return os.path.expanduser(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def cached_jmnn(source) -> str:
    """The .jmnn converted from `source` (an ONNX file path or the ONNX model's bytes), converting it now
    if the cache has no entry for its content."""
    key = _key(source)
    folder = cache_dir()
    dst = os.path.join(folder, f"{key}.jmnn")
    if os.path.isfile(dst):
        return dst
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".part", dir=folder)
        os.close(fd)
    except OSError as e:
        raise ConversionError(f"cannot write the conversion cache {folder}: {e}; set {CACHE_DIR_ENV} to a writable "
                              f"folder, or convert once yourself with jitmnn.convert(...) and open the .jmnn") from e
    name, nbytes = _describe(source)
    print(f"jitmnn: converting {name} ({nbytes / 1e6:.1f} MB) once into {_display(dst)}", file=sys.stderr)
    try:
        from .converter.api import convert

        convert(_as_model(source), tmp)
        os.replace(tmp, dst)
    finally:
        for leftover in (tmp, tmp + ".tmp"):  # jitmnn.format.save writes <tmp>.tmp first
            if os.path.exists(leftover):
                os.remove(leftover)
    return dst


@functools.lru_cache(maxsize=None)
def _converter_fingerprint() -> bytes:
    """The converter's own source (converter/, format.py, compression.py): a converter fix makes new entries even
    while the version number stays the same during development."""
    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(here, "converter")
    files = [os.path.join(here, "format.py"), os.path.join(here, "compression.py")]
    files += sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py"))
    h = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.digest()


def _key(source) -> str:
    """sha256 over jitmnn's version, the converter's source and the model's bytes (read in full, as ORT reads the
    file anyway)."""
    h = hashlib.sha256(f"jitmnn {__version__}\0".encode())
    h.update(_converter_fingerprint())
    if isinstance(source, (bytes, bytearray, memoryview)):
        h.update(source)
        return h.hexdigest()[:40]
    try:
        with open(source, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise ConversionError(f"cannot read ONNX model {os.fspath(source)}: {e}") from e
    return h.hexdigest()[:40]


def _as_model(source):
    """What jitmnn.convert takes: the path itself (external data files resolve next to it), or a ModelProto."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        import onnx
        from google.protobuf.message import DecodeError

        try:
            return onnx.load_model_from_string(bytes(source))
        except (DecodeError, ValueError) as e:
            raise ConversionError(f"the bytes given are not a serialised ONNX model: {e}") from e
    return os.fspath(source)


def _describe(source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<ONNX bytes>", len(source)
    return os.path.basename(os.fspath(source)), os.path.getsize(source)


def _display(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path
