"""Compressed weight storage: fp16, bf16, int8 and int4 (packed two per byte), per output channel or
block-wise along the input dimension, symmetric or asymmetric.

A CompressedTensor is what a .jmnn constant becomes when the converter compressed it. It stays compressed
in memory (a view into the file's memory map); `to_float()` expands it (memory="normal"/"high" do that once
at prepare), while the hybrid kernels expand one panel of rows at a time (memory="low").

Quantization is weight-only: activations stay fp32 (DESIGN section 6; MNN's dynamic activation quantization
broke PP-OCRv4 det)."""

from __future__ import annotations

import numpy as np

KINDS = ("fp16", "bf16", "int8", "int4")


class CompressedTensor:
    """Logical float32 tensor of `shape`, stored as `data` (+ per-(row, block) `scale` and `zero`).

    Rows are the first axis (output channels); each row's remaining elements are split into blocks of
    `block_size` (0 = one block per row). int: w = q * scale (+ zero when asymmetric)."""

    dtype = np.dtype(np.float32)
    half_scales = False  # int4 asymmetric: scales/zero points stored as fp16 in the file
    scale_codes = None  # int4 symmetric: (uint8 codes, base): scales stored as 8-bit log codes

    def __init__(self, kind, shape, data, scale=None, zero=None, block_size=0):
        if kind not in KINDS:
            raise ValueError(f"unknown compression kind {kind!r}")
        self.kind = kind
        self.shape = tuple(int(d) for d in shape)
        self.data = data
        self.scale = scale
        self.zero = zero
        self.block_size = int(block_size)

    # ---- bookkeeping ---------------------------------------------------------------------------------
    @property
    def storage(self) -> str:
        if self.kind in ("int8", "int4"):
            blk = f" block {self.block_size}" if self.block_size else " per-channel"
            return f"{self.kind}{blk}{' asym' if self.zero is not None else ''}"
        return self.kind

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 1

    @property
    def row_len(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) if len(self.shape) > 1 else 1

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in (self.data, self.scale, self.zero) if a is not None)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"CompressedTensor({self.storage}, shape={self.shape}, {self.nbytes} bytes)"

    def to_parts(self):
        meta = {"kind": self.kind, "shape": list(self.shape), "block_size": self.block_size,
                "asymmetric": self.zero is not None}
        parts = {"data": self.data}
        half = self.half_scales
        if self.scale_codes is not None:
            parts["scale"], parts["scale_base"] = self.scale_codes[0], np.array([self.scale_codes[1]], np.float32)
        elif self.scale is not None:
            parts["scale"] = self.scale.astype(np.float16) if half else self.scale
        if self.zero is not None:
            parts["zero"] = self.zero.astype(np.float16) if half else self.zero
        return meta, parts

    @classmethod
    def from_parts(cls, meta, parts):
        widen = [p if p is None or p.dtype != np.float16 else p.astype(np.float32)  # fp16 scales: small copy
                 for p in (parts.get("scale"), parts.get("zero"))]
        codes = None
        if "scale_base" in parts:  # 8-bit log codes: decoded once at load (a small fp32 copy)
            base = parts["scale_base"]
            if base.dtype != np.float32 or base.size != 1 or widen[0] is None or widen[0].dtype != np.uint8:
                raise ValueError("log-coded scales need uint8 codes and one float32 base")
            codes = (widen[0], float(base.reshape(-1)[0]))
            widen[0] = decode_log_scales(*codes)
        t = cls(meta["kind"], meta["shape"], parts["data"], widen[0], widen[1], meta.get("block_size", 0))
        t.scale_codes = codes
        t.validate()
        return t

    def validate(self) -> None:
        """Check that parts agree with the logical shape (a corrupt file must not reach a kernel)."""
        n = self.size
        if self.kind in ("fp16", "bf16"):
            if self.data.dtype != np.uint16 or self.data.size != n:
                raise ValueError(f"{self.kind} data must be {n} uint16 values, got {self.data.dtype} x{self.data.size}")
            return
        per_row = self.row_len
        want_data = (self.rows, per_row if self.kind == "int8" else (per_row + 1) // 2)
        want_dtype = np.int8 if self.kind == "int8" else np.uint8
        if self.data.dtype != want_dtype or tuple(self.data.shape) != want_data:
            raise ValueError(f"{self.kind} data must be {want_dtype.__name__}{want_data}, got {self.data.dtype}{self.data.shape}")
        nblocks = self.blocks_per_row
        if self.scale is None or tuple(self.scale.shape) != (self.rows, nblocks) or self.scale.dtype != np.float32:
            raise ValueError(f"scale must be float32 {(self.rows, nblocks)}")
        if self.zero is not None and (tuple(self.zero.shape) != (self.rows, nblocks) or self.zero.dtype != np.float32):
            raise ValueError(f"zero must be float32 {(self.rows, nblocks)}")

    @property
    def blocks_per_row(self) -> int:
        if not self.block_size:
            return 1
        return -(-self.row_len // self.block_size)

    @property
    def effective_block(self) -> int:
        return self.block_size or self.row_len

    # ---- expansion -----------------------------------------------------------------------------------
    def to_float(self) -> np.ndarray:
        """The whole tensor as a new float32 array (the full copy memory="low" avoids)."""
        out = np.empty((self.rows, self.row_len), np.float32)
        self.expand_rows(0, self.rows, out)
        return out.reshape(self.shape)

    def expand_rows(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows r0..r1 of the [rows, row_len] view into `out` (float32, at least (r1-r0, row_len))."""
        from jitmnn.kernels import dequant as K

        if not (0 <= r0 <= r1 <= self.rows) or out.shape[0] < r1 - r0 or out.shape[1] != self.row_len:
            raise IndexError(f"expand_rows({r0}, {r1}) out of range for {self.shape} into {out.shape}")
        if self.kind == "fp16":
            from jitmnn.kernels.half import host_converts_fp16

            if host_converts_fp16():  # one instruction per 8-16 values: 3-5x the table's speed, measured
                K.fp16_rows_f16c(self.data.reshape(self.rows, self.row_len), r0, r1, out)
            else:
                K.fp16_rows(self.data.reshape(self.rows, self.row_len), _fp16_table(), r0, r1, out)
            return
        if self.kind == "bf16":
            K.bf16_rows(self.data.reshape(self.rows, self.row_len), r0, r1, out)
            return
        zero = self.zero if self.zero is not None else _NO_ZERO
        fn = K.int8_rows if self.kind == "int8" else K.int4_rows
        fn(self.data, self.scale, zero, self.zero is not None, self.effective_block, r0, r1, out)


_NO_ZERO = np.zeros((1, 1), np.float32)
_FP16_TABLE = []


def _fp16_table() -> np.ndarray:
    """float32 value of every fp16 bit pattern (numpy's cast, so exact), made once per process."""
    if not _FP16_TABLE:
        _FP16_TABLE.append(np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32))
    return _FP16_TABLE[0]


# ---- quantization (converter side) --------------------------------------------------------------------
def compress(w: np.ndarray, kind: str, block_size: int = 0, asymmetric: bool = False,
             scale: np.ndarray | None = None, zero: np.ndarray | None = None) -> CompressedTensor:
    """Compress a float weight. Rows = first axis; blocks of `block_size` along the rest (0 = per row).
    int8/int4 take `scale` (and `zero` when asymmetric) of shape (rows, blocks) from a calibration
    (jitmnn.quant) instead of the min/max of each block."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    if kind == "fp16":
        return CompressedTensor("fp16", w.shape, w.astype(np.float16).view(np.uint16))
    if kind == "bf16":
        bits = w.view(np.uint32)
        rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))  # round to nearest even
        return CompressedTensor("bf16", w.shape, (rounded >> np.uint32(16)).astype(np.uint16))
    if kind not in ("int8", "int4"):
        raise ValueError(f"unknown compression kind {kind!r}")
    rows = w.shape[0] if w.ndim else 1
    flat = w.reshape(rows, -1)
    n = flat.shape[1]
    block = block_size if block_size and block_size < n else 0
    eff = block or n
    nblocks = -(-n // eff)
    padded = np.zeros((rows, nblocks * eff), np.float32)
    padded[:, :n] = flat
    blocks = padded.reshape(rows, nblocks, eff)
    valid = np.zeros((nblocks * eff,), bool)
    valid[:n] = True
    valid = valid.reshape(nblocks, eff)
    bits = 8 if kind == "int8" else 4
    qmax = 2 ** (bits - 1) - 1  # symmetric: [-qmax, qmax]
    if scale is not None:
        scale = np.ascontiguousarray(scale, np.float32).reshape(rows, nblocks)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError("scales must be finite and positive")
        if asymmetric:
            if zero is None:
                raise ValueError("asymmetric quantization with given scales needs zero points too")
            zero = np.ascontiguousarray(zero, np.float32).reshape(rows, nblocks)
            qmin = -(2 ** (bits - 1))
            q = np.clip(np.rint((blocks - zero[:, :, None]) / scale[:, :, None]), qmin, qmax)
        else:
            zero = None
            q = np.clip(np.rint(blocks / scale[:, :, None]), -qmax, qmax)
    elif asymmetric:
        big = np.float32(np.finfo(np.float32).max)
        lo = np.where(valid, blocks, big).min(axis=2)
        hi = np.where(valid, blocks, -big).max(axis=2)
        levels = 2**bits - 1
        scale = np.maximum((hi - lo) / levels, np.float32(1e-12)).astype(np.float32)
        # q in [-2^(b-1), 2^(b-1)-1]; w = q*scale + zero with zero = lo + 2^(b-1)*scale
        qmin = -(2 ** (bits - 1))
        zero = (lo - qmin * scale).astype(np.float32)
        q = np.clip(np.rint((blocks - zero[:, :, None]) / scale[:, :, None]), qmin, qmax)
    else:
        absmax = np.abs(blocks).max(axis=2)
        scale = np.where(absmax > 0, absmax / qmax, np.float32(1.0)).astype(np.float32)
        zero = None
        q = np.clip(np.rint(blocks / scale[:, :, None]), -qmax, qmax)
    codes = None
    if kind == "int4" and zero is None:
        # Symmetric int4 stores each block's scale as an 8-bit log code under one fp32 base (double
        # quantization, as QLoRA does): 1 byte instead of 2 per block of 32 weights, 0.141x -> 0.134x of
        # fp32 for ResNet-18. Codes are within 2.2% of the true scale (see log_scale_codes).
        codes, scale = log_scale_codes(scale)
        q = np.clip(np.rint(blocks / scale[:, :, None]), -qmax, qmax)
    half_scales = kind == "int4" and zero is not None and _fits_fp16(scale) and _fits_fp16(zero, allow_zero=True)
    if half_scales:
        # Asymmetric int4 stores scales and zero points as fp16 (2 instead of 4 bytes per block of 32
        # weights). Quantize against the rounded values.
        scale = scale.astype(np.float16).astype(np.float32)
        zero = zero.astype(np.float16).astype(np.float32)
        q = np.clip(np.rint((blocks - zero[:, :, None]) / scale[:, :, None]), -(2 ** (bits - 1)), qmax)
    q = q.reshape(rows, nblocks * eff)[:, :n].astype(np.int8)
    if kind == "int4":
        q = _pack_int4(q)
    t = CompressedTensor(kind, w.shape, q, scale, zero, block)
    t.half_scales = half_scales
    t.scale_codes = codes
    return t


LOG_SCALE_STEPS_PER_OCTAVE = 16  # 256 codes span 2^16 below the largest scale, 4.4% apart


def decode_log_scales(codes: np.ndarray, base: float) -> np.ndarray:
    """scale = base * 2^(-code / 16), in float32 (the converter quantizes against exactly these values)."""
    e = codes.astype(np.float32) * np.float32(-1.0 / LOG_SCALE_STEPS_PER_OCTAVE)
    return (np.float32(base) * np.exp2(e)).astype(np.float32)


def log_scale_codes(scale: np.ndarray):
    """((uint8 codes, base), decoded scales): each scale rounded to the nearest code, so within 2^(1/32)
    (2.2%) of the true one; a block's largest weight may clip by at most that much, less than half a step.
    (Rounding up instead avoids clipping but makes every step coarser: ResNet-18 int4 output error
    0.27 -> 0.34, nearest 0.23; 32 codes per octave span only 256x and broke ResNet-18: 0.99.) A block
    more than 2^16 below the largest gets the last code."""
    scale = np.asarray(scale, np.float32)
    base = float(scale.max())
    ratio = np.maximum(scale.astype(np.float64) / base, 1e-30)
    codes = np.clip(np.rint(-LOG_SCALE_STEPS_PER_OCTAVE * np.log2(ratio)), 0, 255).astype(np.uint8)
    return (codes, base), decode_log_scales(codes, base)


def _fits_fp16(a: np.ndarray, allow_zero: bool = False) -> bool:
    """fp16 holds every value to ~1e-3 relative: normal range only (subnormal scales would lose bits)."""
    mag = np.abs(a)
    ok = (mag >= 6.2e-5) & (mag <= 6.0e4)
    if allow_zero:
        ok |= mag == 0
    return bool(np.all(ok))


def _pack_int4(q: np.ndarray) -> np.ndarray:
    """Two signed 4-bit values per byte, low nibble first; odd row lengths pad with 0."""
    rows, n = q.shape
    if n % 2:
        q = np.concatenate([q, np.zeros((rows, 1), np.int8)], axis=1)
    u = (q.astype(np.int16) & 0xF).astype(np.uint8)
    return (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)


# ---- whole-graph compression (the converter's --fp16/--bf16/--weight-quant-bits) ------------------------
# Which input of which op is a weight that may be stored compressed (rows = first axis of the stored array).
WEIGHT_INPUTS = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1}
# Tiny weights (a 3-channel 1x1 conv) gain nothing from compression and only cost dequant calls.
MIN_COMPRESSED_ELEMENTS = 256
FP16_MIN_NORMAL = 6.103515625e-05
# fp16 storage keeps a layer only if its relative L2 error stays below this (BatchNorm folding can leave
# weights far below fp16's normal range: PP-OCRv4 det's head, max |w| 2.4e-4, broke ncnn's fp16 file).
FP16_MAX_REL_ERROR = 1e-3
# bf16 keeps fp32's range but only 8 mantissa bits: ~2e-3 relative L2 error is its normal cost.
BF16_MAX_REL_ERROR = 5e-3


def _rel_l2(a, b) -> float:
    n = float(np.linalg.norm(a))
    return float(np.linalg.norm(a - b)) / n if n else 0.0


def _correct_bias(graph, node, users, delta, row) -> None:
    """bias += delta (a calibration's correction of the mean output shift quantization causes), as a
    new constant; the layer's bias must be a float32 constant of its own of delta's length."""
    name = node.inputs[2] if len(node.inputs) > 2 else ""
    b = graph.constants.get(name)
    if not isinstance(b, np.ndarray) or b.dtype != np.float32 or users.get(name, 0) > 1:
        raise ValueError(f"{node.name}: bias_correction needs a float32 bias used by this layer only")
    if b.size != delta.size:
        raise ValueError(f"{node.name}: bias_correction has {delta.size} values, the bias {b.size}")
    graph.constants[name] = (b.reshape(-1) + delta).astype(np.float32).reshape(b.shape)
    row["bias_corrected"] = True


def _compress_bias(graph, node, users, row) -> None:
    """A Conv/ConvTranspose bias stored fp16 (the conv algorithms expand constant biases at prepare);
    kept fp32 when shared or when fp16 would lose more than FP16_MAX_REL_ERROR of it."""
    if node.op not in ("Conv", "ConvTranspose") or len(node.inputs) < 3 or users.get(node.inputs[2], 0) > 1:
        return
    b = graph.constants.get(node.inputs[2])
    if not isinstance(b, np.ndarray) or b.dtype != np.float32:
        return
    t = compress(b, "fp16")
    if _rel_l2(np.asarray(b, np.float64), t.to_float().astype(np.float64)) > FP16_MAX_REL_ERROR:
        return
    graph.constants[node.inputs[2]] = t
    row["bytes_before"] += int(b.nbytes)
    row["bytes_after"] += int(t.nbytes)
    row["bias"] = "fp16"


def compress_graph(graph, kind: str, block_size: int = 0, asymmetric: bool = False, layers: dict | None = None):
    """Store the weights of conv/gemm layers compressed, in place. `layers` (from a compression-params file)
    maps node name -> {"kind", "block_size", "asymmetric"} and overrides the global setting per layer
    (kind "fp32" keeps a layer float); a params file's entries may also carry "scale"/"zero" (from
    calibration), "bias_delta" (added to the layer's bias: the calibration's correction of the mean
    shift quantization causes), "bias_kind" ("fp16": a Conv bias stored fp16 when lossless enough; the
    default for int8/int4, whose files are small enough for fp32 biases to show: "fp32" keeps them) and
    "explicit" (compress even a layer below MIN_COMPRESSED_ELEMENTS; without it such a layer is stored fp16
    under int8/int4). Returns a report: per-layer
    storage, error, and what was kept float and why. Raises ValueError when nothing was compressed (a silent no-op is a bug)."""
    rows = []
    users: dict = {}
    for n in graph.nodes:
        for i in n.inputs:
            users[i] = users.get(i, 0) + 1
    for node in graph.nodes:
        idx = WEIGHT_INPUTS.get(node.op)
        if idx is None or len(node.inputs) <= idx:
            continue
        name = node.inputs[idx]
        w = graph.constants.get(name)
        if w is None or isinstance(w, CompressedTensor) or getattr(w, "dtype", None) != np.float32:
            continue
        spec = (layers or {}).get(node.name, {"kind": kind, "block_size": block_size, "asymmetric": asymmetric})
        k = spec.get("kind", kind)
        if k in (None, "fp32"):
            rows.append({"layer": node.name, "storage": "fp32", "note": "kept fp32 by params file", "rel_error": 0.0})
            continue
        # A layer too small for int8/int4 (a 3-channel stem, a 1x1 over 8 channels) is stored fp16 when that is
        # lossless enough, so fixed costs do not dominate a small model's int4 file (PP-OCR cls: 0.19x).
        small = w.size < MIN_COMPRESSED_ELEMENTS and not spec.get("explicit")
        if small and (k not in ("int8", "int4") or users.get(name, 0) > 1):
            rows.append({"layer": node.name, "storage": "fp32", "note": f"only {w.size} weights", "rel_error": 0.0})
            continue
        if users.get(name, 0) > 1:
            rows.append({"layer": node.name, "storage": "fp32", "note": "weight shared by several nodes",
                         "rel_error": 0.0})
            continue
        store = "fp16" if small else k
        t = compress(np.asarray(w), store, int(spec.get("block_size", block_size) or 0),
                     bool(spec.get("asymmetric", asymmetric)), spec.get("scale"), spec.get("zero"))
        err = _rel_l2(np.asarray(w, np.float64), t.to_float().astype(np.float64))
        if store in ("fp16", "bf16") and err > (FP16_MAX_REL_ERROR if store == "fp16" else BF16_MAX_REL_ERROR):
            amax = float(np.abs(w).max())
            rows.append({"layer": node.name, "storage": "fp32", "rel_error": 0.0,
                         "note": f"kept fp32: {store} error {err:.2e} (max |w| {amax:.2e}, fp16 normal >= {FP16_MIN_NORMAL:.1e})"})
            continue
        graph.constants[name] = t
        row = {"layer": node.name, "storage": t.storage, "rel_error": err,
               "note": f"only {w.size} weights: fp16, not int" if small else "",
               "bytes_before": int(w.nbytes), "bytes_after": int(t.nbytes)}
        if spec.get("bias_delta") is not None:
            _correct_bias(graph, node, users, np.asarray(spec["bias_delta"], np.float32), row)
        if spec.get("bias_kind", "fp16" if k in ("int8", "int4") else "fp32") == "fp16":
            _compress_bias(graph, node, users, row)
        rows.append(row)
    if not any(r["storage"] != "fp32" for r in rows):
        raise ValueError(f"--{kind}: no weight was compressed ({len(rows)} candidate layers: "
                         + "; ".join(f"{r['layer']}: {r['note']}" for r in rows[:5]) + ")")
    return rows
