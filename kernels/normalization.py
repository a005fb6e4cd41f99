"""Normalisations that real models run hot, over float32: RMSNormalization (LLM blocks), GroupNormalization
(diffusion U-Nets) and LRN (AlexNet/GoogLeNet-era CNNs). Each accumulates in float32 in two passes (the
statistics, then the scaled write), like kernels/norm.py's layer_norm."""

import math

import numpy as np

from ._jit import kernel


@kernel
def rms_norm(x, scale, out, eps):
    """x, out: [rows, cols]; scale: [cols]. y = x / sqrt(mean(x^2) + eps) * scale (Zhang & Sennrich 2019)."""
    rows, cols = x.shape
    inv_n = np.float32(1.0) / np.float32(cols)
    for r in range(rows):
        s = np.float32(0.0)
        for i in range(cols):
            v = x[r, i]
            s += v * v
        rstd = np.float32(1.0) / np.float32(math.sqrt(s * inv_n + eps))
        for i in range(cols):
            out[r, i] = x[r, i] * rstd * scale[i]


@kernel
def group_norm(x, scale, bias, out, eps, per_scale):
    """x, out: [N, G, Cg, HW]; scale, bias: [C // per_scale] (per_scale = 1: one value per channel as in
    opset 21; per_scale = Cg: one per group as in opset 18). Mean and centred variance per (n, g) over
    Cg * HW values (Wu & He 2018), then y = (x - mean) * rstd * scale + bias."""
    N, G, Cg, HW = x.shape
    inv_n = np.float32(1.0) / np.float32(Cg * HW)
    for n in range(N):
        for g in range(G):
            s = np.float32(0.0)
            for c in range(Cg):
                for i in range(HW):
                    s += x[n, g, c, i]
            mean = s * inv_n
            v = np.float32(0.0)
            for c in range(Cg):
                for i in range(HW):
                    d = x[n, g, c, i] - mean
                    v += d * d
            rstd = np.float32(1.0) / np.float32(math.sqrt(v * inv_n + eps))
            for c in range(Cg):
                k = (g * Cg + c) // per_scale
                a = rstd * scale[k]
                b = bias[k] - mean * a
                for i in range(HW):
                    out[n, g, c, i] = x[n, g, c, i] * a + b


@kernel
def lrn(x, out, size, alpha, beta, bias):
    """x, out: [N, C, HW]; out must not alias x. Local response normalisation across channels (Krizhevsky
    et al. 2012, as ONNX states it): the window of channel c is [c - (size-1)//2, c + ceil((size-1)/2)]
    clipped to [0, C); y = x / (bias + alpha / size * sum of squares over the window) ^ beta. The sum
    of squares is accumulated in `out` itself (contiguous HW rows vectorise), then turned into y."""
    N, C, HW = x.shape
    lo_off = (size - 1) // 2
    hi_off = size - 1 - lo_off
    a = alpha / np.float32(size)
    for n in range(N):
        for c in range(C):
            lo = max(0, c - lo_off)
            hi = min(C - 1, c + hi_off)
            for i in range(HW):
                out[n, c, i] = np.float32(0.0)
            for j in range(lo, hi + 1):
                for i in range(HW):
                    v = x[n, j, i]
                    out[n, c, i] += v * v
            for i in range(HW):
                out[n, c, i] = x[n, c, i] / (bias + a * out[n, c, i]) ** beta
