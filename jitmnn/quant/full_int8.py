"""The full-int8 experiment: activations quantized too (scales from calibration), int8 x int8 -> int32 GEMM,
int32 -> float32 with the product of the two scales.

Kept as a measured experiment, NOT used by the runtime: on this machine (2 cores, AVX-512 with VNNI,
numpy's BLAS for fp32, 1 thread) the Numba int8 GEMM is 3-16x slower than the fp32 sgemm the runtime
already uses, on every ResNet-18 conv shape measured; `python -m jitmnn.quant.full_int8` prints the table
(medians, fp32 and int8 interleaved in one process; the machine is shared, so expect noise). Two runs
on 2026-11-22, ms fp32 / int8 (quantize + GEMM + dequantize):
    layer1 64x576x3136     12.0 / 47.8     5.6 / 27.1
    layer2 128x1152x784     7.0 / 47.4     4.5 / 27.1
    layer3 256x2304x196     2.7 / 43.0     4.5 / 25.4
    layer4 512x4608x49     10.9 / 49.8     5.7 / 27.9
    fc 1000x512x1 (GEMV)   0.097 / 0.074  0.102 / 0.130  (within noise)
Loop orders tried (dot product over K, 4 columns per pass (this file); i-k-j over an int32 row;
int16 pair products widened once per pair; 4 rows per B load) all stayed 3-8x behind BLAS: Numba/LLVM
does not emit VNNI's vpdpbusd from a loop and BLAS's packed, register-blocked sgemm wins. Weight-only
int8 (jitmnn/compression.py) keeps the size win without that cost.
"""

from __future__ import annotations

import time

import numpy as np

from jitmnn.kernels._jit import kernel


@kernel
def _gemm_s8s8s32(a, bt, out):
    """out[m, n] = sum_k a[m, k] * bt[n, k]: a (M, K) int8, bt (N, K) int8 (B transposed so both operands
    stream along K), int32 accumulation; 4 columns per pass share each load of a's row."""
    m_, k_ = a.shape
    n_ = bt.shape[0]
    n4 = n_ - n_ % 4
    for i in range(m_):
        for j in range(0, n4, 4):
            s0 = np.int32(0)
            s1 = np.int32(0)
            s2 = np.int32(0)
            s3 = np.int32(0)
            for k in range(k_):
                x = np.int32(a[i, k])
                s0 += x * np.int32(bt[j, k])
                s1 += x * np.int32(bt[j + 1, k])
                s2 += x * np.int32(bt[j + 2, k])
                s3 += x * np.int32(bt[j + 3, k])
            out[i, j] = s0
            out[i, j + 1] = s1
            out[i, j + 2] = s2
            out[i, j + 3] = s3
        for j in range(n4, n_):
            s = np.int32(0)
            for k in range(k_):
                s += np.int32(a[i, k]) * np.int32(bt[j, k])
            out[i, j] = s


@kernel
def _quantize_s8(x, inv_scale, out):
    """out = clip(round(x / scale), -127, 127) as int8 (x, out flat)."""
    for i in range(x.size):
        v = np.rint(x[i] * inv_scale)
        if v > np.float32(127.0):
            v = np.float32(127.0)
        elif v < np.float32(-127.0):
            v = np.float32(-127.0)
        out[i] = np.int8(v)


@kernel
def _dequant_rows(acc, row_scale, x_scale, out):
    """out[m, n] = acc[m, n] * row_scale[m] * x_scale (int32 -> float32)."""
    for m in range(acc.shape[0]):
        s = row_scale[m] * x_scale
        for n in range(acc.shape[1]):
            out[m, n] = np.float32(acc[m, n]) * s


def gemm_s8s8s32(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out (M, N) int32 = a (M, K) int8 @ b (K, N) int8 (checked here, not in the kernel)."""
    if a.dtype != np.int8 or b.dtype != np.int8 or out.dtype != np.int32:
        raise TypeError("gemm_s8s8s32 takes int8 operands and an int32 output")
    if a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"shapes {a.shape} @ {b.shape} -> {out.shape} do not agree")
    _gemm_s8s8s32(np.ascontiguousarray(a), np.ascontiguousarray(b.T), out)


def int8_layer(w_q, w_scale, x, x_scale, acc, xq, out):
    """One full-int8 GEMM layer: quantize x (K, N) with the calibrated scale, int8 GEMM with the
    pre-quantized, pre-transposed... weights (M, K), dequantize into out (M, N) float32."""
    _quantize_s8(x.reshape(-1), np.float32(1.0 / x_scale), xq.reshape(-1))
    _gemm_s8s8s32(w_q, xq, acc)  # xq holds x transposed: (N, K)
    _dequant_rows(acc, w_scale, np.float32(x_scale), out)


# ResNet-18 conv layers as GEMMs (M = out channels, K = in channels * 9, N = output pixels) and its fc.
SHAPES = {"layer1 3x3 64@56": (64, 576, 3136), "layer2 3x3 128@28": (128, 1152, 784),
          "layer3 3x3 256@14": (256, 2304, 196), "layer4 3x3 512@7": (512, 4608, 49), "fc 1000x512": (1000, 512, 1)}


def measure(repeats: int = 15, shapes=None) -> list:
    """Median ms of fp32 np.matmul (BLAS, 1 thread) vs the full-int8 path (quantize + int8 GEMM +
    dequantize) for each shape, in one process, interleaved so machine noise hits both alike."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(1):
        for label, (m, k, n) in (shapes or SHAPES).items():
            w = rng.standard_normal((m, k)).astype(np.float32)
            x = rng.standard_normal((k, n)).astype(np.float32)
            y = np.empty((m, n), np.float32)
            w_scale = (np.abs(w).max(axis=1) / 127).astype(np.float32)
            w_q = np.clip(np.rint(w / w_scale[:, None]), -127, 127).astype(np.int8)
            x_scale = float(np.abs(x).max() / 127)
            xt = np.ascontiguousarray(x.T)  # the int8 path wants activations (N, K): an im2col in that order
            xq = np.empty((n, k), np.int8)
            acc = np.empty((m, n), np.int32)
            y8 = np.empty((m, n), np.float32)
            int8_layer(w_q, w_scale, xt, x_scale, acc, xq, y8)  # compile
            t32, t8, tg = [], [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                np.matmul(w, x, out=y)
                t1 = time.perf_counter()
                int8_layer(w_q, w_scale, xt, x_scale, acc, xq, y8)
                t2 = time.perf_counter()
                _gemm_s8s8s32(w_q, xq, acc)
                t3 = time.perf_counter()
                t32.append(t1 - t0)
                t8.append(t2 - t1)
                tg.append(t3 - t2)
            rel = float(np.linalg.norm(y8 - y) / np.linalg.norm(y))
            rows.append({"layer": label, "M": m, "K": k, "N": n, "fp32_ms": 1e3 * float(np.median(t32)),
                         "int8_ms": 1e3 * float(np.median(t8)), "int8_gemm_only_ms": 1e3 * float(np.median(tg)),
                         "rel_error": rel})
    return rows


if __name__ == "__main__":
    print(f"{'layer':<20} {'M':>5} {'K':>5} {'N':>5} {'fp32 ms':>9} {'int8 ms':>9} {'gemm ms':>9} {'speedup':>8} "
          "rel.err")
    for r in measure():
        print(f"{r['layer']:<20} {r['M']:>5} {r['K']:>5} {r['N']:>5} {r['fp32_ms']:>9.3f} {r['int8_ms']:>9.3f} "
              f"{r['int8_gemm_only_ms']:>9.3f} {r['fp32_ms'] / r['int8_ms']:>7.2f}x {r['rel_error']:.2e}")
