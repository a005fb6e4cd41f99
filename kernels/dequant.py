"""Expand compressed weight rows to float32 (used panel by panel by the hybrid kernels, and once by
to_float()). fp16 arrives as uint16 bits because Numba has no float16 on CPU: the CPU's half->float
instruction (F16C, kernels/half.py) turns bits into floats, 3-5 Gelem/s; where it is missing, a 65536-entry
table made by numpy's own cast (exact by construction, 256 KB, L2-resident; ~1 Gelem/s). bf16 is the top
half of an fp32. Loops run block by block over 0-based row slices, so the inner loop has no division and
no negative-index wraparound check, and LLVM vectorises it (0.5 -> 4.4 Gelem/s for int8, measured)."""

import numpy as np

from ._jit import kernel
from .half import half_to_float


@kernel
def fp16_rows(data, table, r0, r1, out):
    n = data.shape[1]
    for r in range(r0, r1):
        src = data[r]
        dst = out[r - r0]
        for j in range(n):
            dst[j] = table[np.int64(src[j])]


@kernel
def fp16_rows_f16c(data, r0, r1, out):
    """fp16_rows with the CPU's own half->float instruction (F16C; kernels/half.py) instead of the table."""
    n = data.shape[1]
    for r in range(r0, r1):
        src = data[r]
        dst = out[r - r0]
        for j in range(n):
            dst[j] = half_to_float(src[j])


@kernel
def bf16_rows(data, r0, r1, out):
    n = data.shape[1]
    bits_out = out.view(np.uint32)
    for r in range(r0, r1):
        src = data[r]
        dst = bits_out[r - r0]
        for j in range(n):
            dst[j] = np.uint32(src[j]) << np.uint32(16)


@kernel
def int8_rows(q, scale, zero, asym, block, r0, r1, out):
    n = q.shape[1]
    nb = scale.shape[1]
    for r in range(r0, r1):
        src = q[r]
        dst = out[r - r0]
        for b in range(nb):
            s = scale[r, b]
            z = zero[r, b] if asym else np.float32(0.0)
            j0 = b * block
            m = min(n - j0, block)
            d = dst[j0:j0 + m]
            q8 = src[j0:j0 + m]
            for j in range(m):
                d[j] = np.float32(q8[j]) * s + z


@kernel
def int4_rows(packed, scale, zero, asym, block, r0, r1, out):
    """Nibbles are two's-complement int4, low nibble first; (x ^ 8) - 8 sign-extends one. A whole block
    of even length starts on a byte and unpacks byte by byte (two outputs per byte), which LLVM vectorises:
    1.9 Gelem/s against 0.5 for the earlier form (lo - ((lo & 8) << 1), a branch per block on alignment).
    Other blocks (odd length, the short last one) go nibble by nibble."""
    n = out.shape[1]
    nb = scale.shape[1]
    hb = block // 2
    fast = n // block if block % 2 == 0 else 0  # whole even blocks
    for r in range(r0, r1):
        src = packed[r]
        dst = out[r - r0]
        for b in range(fast):
            s = scale[r, b]
            z = zero[r, b] if asym else np.float32(0.0)
            p = src[b * hb:(b + 1) * hb]
            d = dst[b * block:(b + 1) * block]
            for t in range(hb):
                byte = np.int32(p[t])
                d[2 * t] = np.float32(((byte & 0xF) ^ 8) - 8) * s + z
                d[2 * t + 1] = np.float32(((byte >> 4) ^ 8) - 8) * s + z
        for b in range(fast, nb):
            s = scale[r, b]
            z = zero[r, b] if asym else np.float32(0.0)
            j0 = b * block
            d = dst[j0:min(n, j0 + block)]
            for j in range(d.shape[0]):
                jj = j0 + j
                nib = (np.int32(src[jj >> 1]) >> ((jj & 1) * 4)) & 0xF
                d[j] = np.float32((nib ^ 8) - 8) * s + z
