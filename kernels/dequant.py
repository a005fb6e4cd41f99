"""Expand compressed weight rows to float32 (used tile by tile by the hybrid kernels, and once by
to_float()). fp16/bf16 arrive as uint16 because Numba has no float16 on CPU: the fp16 path rebuilds the
IEEE bits by hand (normals, subnormals, inf/NaN); bf16 is the top half of an fp32."""

import numpy as np

from ._jit import kernel


@kernel
def _h2f(h):
    """IEEE half bits (uint16 as int) -> float32."""
    sign = np.uint32(h & 0x8000) << np.uint32(16)
    exp = (h >> 10) & 0x1F
    man = h & 0x3FF
    if exp == 0:
        if man == 0:
            bits = sign
        else:  # subnormal: renormalise
            e = 0
            while (man & 0x400) == 0:
                man <<= 1
                e += 1
            man &= 0x3FF
            bits = sign | np.uint32(127 - 15 - e + 1) << np.uint32(23) | np.uint32(man) << np.uint32(13)
    elif exp == 31:
        bits = sign | np.uint32(0x7F800000) | np.uint32(man) << np.uint32(13)
    else:
        bits = sign | np.uint32(exp - 15 + 127) << np.uint32(23) | np.uint32(man) << np.uint32(13)
    return bits


@kernel
def fp16_rows(data, r0, r1, out):
    n = data.shape[1]
    bits_out = out.view(np.uint32)
    for r in range(r0, r1):
        for j in range(n):
            bits_out[r - r0, j] = _h2f(np.int32(data[r, j]))


@kernel
def bf16_rows(data, r0, r1, out):
    n = data.shape[1]
    bits_out = out.view(np.uint32)
    for r in range(r0, r1):
        for j in range(n):
            bits_out[r - r0, j] = np.uint32(data[r, j]) << np.uint32(16)


@kernel
def int8_rows(q, scale, zero, asym, block, r0, r1, out):
    n = q.shape[1]
    for r in range(r0, r1):
        for j in range(n):
            b = j // block
            v = np.float32(q[r, j]) * scale[r, b]
            if asym:
                v += zero[r, b]
            out[r - r0, j] = v


@kernel
def int4_rows(packed, scale, zero, asym, block, r0, r1, out):
    n = out.shape[1]
    for r in range(r0, r1):
        for j in range(n):
            byte = np.int32(packed[r, j >> 1])
            nib = (byte >> 4) & 0xF if j & 1 else byte & 0xF
            qv = nib - 16 if nib >= 8 else nib
            b = j // block
            v = np.float32(qv) * scale[r, b]
            if asym:
                v += zero[r, b]
            out[r - r0, j] = v
