"""jitmnn's own packed GEMM (kernels/gemm.py: 8x32 AVX-512 micro-kernel) next to numpy's BLAS, 1 thread, on
the compute-core issue's 256x2304x196 (a 3x3x256 conv on a 14x14 map) and other conv-shaped GEMMs; then whole
models with every Conv forced to the "packed" algorithm vs the default plan, interleaved in one process, at 1
and 2 threads (the own GEMM splits C's row panels across Numba threads; the default plan's BLAS gets 2).
The BLAS variables are unset for this run (timing_env), so numpy runs OpenBLAS's SkylakeX kernel.

    .venv/bin/python benchmarks/gemm.py [--models resnet18,resnet50] [--keep-env]"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

SHAPES = [(256, 2304, 196), (64, 576, 3136), (512, 4608, 49), (128, 1152, 784)]


def _median_ms(fn, min_time=0.5, min_runs=5):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def gemm_table():
    import numba
    from threadpoolctl import threadpool_limits

    from jitmnn.kernels import gemm as G

    rng = np.random.default_rng(0)
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    print(f"{'M x K x N':<18} {'jitmnn GF/s':>12} {'numpy GF/s':>11} {'ratio':>7}  max rel err | 2 threads: jitmnn "
          f"GF/s (x its 1T)  numpy GF/s (x its 1T)")
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        ap, edge = G.pack_a(a), np.empty(G.edge_size(k), np.float32)
        tile, c = np.empty(G.MR * G.NR, np.float32), np.empty((m, n), np.float32)
        flop = 2.0 * m * k * n
        t_full = _median_ms(lambda: G.gemm(ap, m, k, b, c, edge, tile))
        with threadpool_limits(1):
            t_np = _median_ms(lambda: a @ b)
        G.gemm(ap, m, k, b, c, edge, tile)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = float(np.abs(c - ref).max() / max(1.0, np.abs(ref).max()))
        tiles = np.empty(G.tiles_size(m), np.float32)
        numba.set_num_threads(two)
        t_2 = _median_ms(lambda: G.gemm_threads(ap, m, k, b, c, edge, tiles))
        numba.set_num_threads(1)
        with threadpool_limits(two):
            t_np2 = _median_ms(lambda: a @ b)
        print(f"{m}x{k}x{n:<8} {flop / t_full / 1e6:>12.1f} {flop / t_np / 1e6:>11.1f} {t_full / t_np:>7.2f}  {err:.1e}"
              f" | {flop / t_2 / 1e6:>6.1f} (x{t_full / t_2:.2f})  {flop / t_np2 / 1e6:>6.1f} (x{t_np / t_np2:.2f})")


def bf16_table():
    """The bf16 GEMM (kernels/gemm_bf16.py, vdpbf16ps) on the same shapes, next to the fp32 micro-kernel and numpy:
    with its B packing (rounding the activations to bf16) and without (kernel only). CPUs without AVX512-BF16
    skip it."""
    import numba
    from threadpoolctl import threadpool_limits

    from jitmnn import cpu
    from jitmnn.kernels import gemm as G
    from jitmnn.kernels import gemm_bf16 as B

    if cpu.bf16_tier() != "avx512_bf16":
        print(f"\nbf16 GEMM: skipped ({cpu.report()})")
        return
    rng = np.random.default_rng(0)
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    print(f"\n{'M x K x N':<18} {'bf16 GF/s':>10} {'kernel only':>12} {'fp32 own':>9} {'numpy':>7} {'bf16/numpy':>11}"
          f"  max rel err (bf16-rounded ref) | 2 threads bf16 GF/s (x its 1T)")
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        w = B.pack_a_bf16(a)
        bp, c = np.empty(B.packed_b_size(k, n), np.uint32), np.empty((m, n), np.float32)
        tiles = np.empty(B.tiles_size(two), np.float32)
        flop = 2.0 * m * k * n
        t_bf = _median_ms(lambda: B.gemm_bf16(w, b, 0, n, c, bp, tiles))
        t_kernel = _median_ms(lambda: B.gemm_packed_b(w, bp, n, c, tiles))
        ap, edge, tile = G.pack_a(a), np.empty(G.edge_size(k), np.float32), np.empty(G.MR * G.NR, np.float32)
        t_fp32 = _median_ms(lambda: G.gemm(ap, m, k, b, c, edge, tile))
        with threadpool_limits(1):
            t_np = _median_ms(lambda: a @ b)
        B.gemm_bf16(w, b, 0, n, c, bp, tiles)
        ref = B.round_to_bf16(a).astype(np.float64) @ B.round_to_bf16(b).astype(np.float64)
        err = float(np.abs(c - ref).max() / max(1.0, np.abs(ref).max()))
        numba.set_num_threads(two)
        t_2 = _median_ms(lambda: B.gemm_bf16(w, b, 0, n, c, bp, tiles, two))
        numba.set_num_threads(1)
        print(f"{m}x{k}x{n:<8} {flop / t_bf / 1e6:>10.1f} {flop / t_kernel / 1e6:>12.1f} {flop / t_fp32 / 1e6:>9.1f}"
              f" {flop / t_np / 1e6:>7.1f} {t_np / t_bf:>10.2f}x  {err:.1e} | {flop / t_2 / 1e6:>6.1f} "
              f"(x{t_bf / t_2:.2f})")


def model_table(models, threads):
    import jitmnn
    from jitmnn.models import prepare_model, sample_input

    work = tempfile.mkdtemp(prefix="jitmnn-gemm-")
    print(f"\n{'model':<14} {'T':>2} {'default ms':>11} {'Conv=packed ms':>15} {'ratio':>7}  max |diff|")
    for name in models:
        _, path = prepare_model(name, work)
        x = sample_input(name)
        feed = {"input": x} if isinstance(x, np.ndarray) else x
        default = jitmnn.load(path, num_threads=threads)
        packed = jitmnn.load(path, num_threads=threads, overrides={"Conv": "packed"})
        y0, y1 = default.run(feed), packed.run(feed)
        diff = max(float(np.abs(y0[k] - y1[k]).max()) for k in y0)
        td, tp = [], []
        for _ in range(15):  # interleaved, so load drifts hit both
            td.append(_median_ms(lambda: default.run(feed), min_time=0.0, min_runs=1))
            tp.append(_median_ms(lambda: packed.run(feed), min_time=0.0, min_runs=1))
        d, p = float(np.median(td)), float(np.median(tp))
        print(f"{name:<14} {threads:>2} {d:>11.2f} {p:>15.2f} {p / d:>7.2f}  {diff:.1e}")
        default.close()
        packed.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,resnet50")
    ap.add_argument("--keep-env", action="store_true", help="keep OPENBLAS_CORETYPE etc. (see timing_env.py)")
    args = ap.parse_args()
    if not args.keep_env:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from timing_env import reexec_for_timing

        reexec_for_timing(threads=2)
    gemm_table()
    bf16_table()
    if args.models:
        for threads in (1, 2):
            model_table(args.models.split(","), threads)


if __name__ == "__main__":
    main()
