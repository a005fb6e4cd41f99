"""jitmnn's own GEMM (kernels/gemm.py: 8x32 AVX-512 micro-kernel) next to numpy's BLAS on the compute-core issue's
256x2304x196 (a 3x3x256 conv on a 14x14 map) and other conv-shaped GEMMs, 1 and 2 threads: with A packed, and
as Conv "own_gemm" runs it (kernels/conv_gemm.py: weights read in place, output tiles over threads); then whole
models, 1 thread, interleaved in one process: the default plan, every Conv on im2col + BLAS, every Conv on
own_gemm (one process, so this is 1 thread only: with num_threads > 1 jitmnn holds BLAS to one thread).
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

    from jitmnn.kernels import conv_gemm as CG
    from jitmnn.kernels import gemm as G

    rng = np.random.default_rng(0)
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    print(f"{'M x K x N':<18} {'packed GF/s':>12} {'in place':>9} {'numpy GF/s':>11} {'in place/numpy':>15}  max rel err"
          f" | 2 threads: packed, in place (x its 1T), numpy (x its 1T)")
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        ap, edge = G.pack_a(a), np.empty(G.edge_size(k), np.float32)
        tile, c = np.empty(G.MR * G.NR, np.float32), np.empty((m, n), np.float32)
        flop = 2.0 * m * k * n
        t_full = _median_ms(lambda: G.gemm(ap, m, k, b, c, edge, tile))
        zero, x3 = np.zeros(m, np.float32), b.reshape(k, 1, n)

        def in_place(slots):  # Conv own_gemm's path: a 1x1 conv over a 1 x n map is exactly this GEMM
            scratch = [np.empty((slots, f), np.float32) for f in (1, *CG.slot_floats(k, n, True)[1:])]
            t = n if slots == 1 else -(-(-(-n // slots)) // CG.NR) * CG.NR
            return lambda: CG.conv_tiles(x3, a, zero, c, *scratch, (n, 1, 1, 1, 1, 0, 0, 1, 1), min(t, n), m, 0, 0, 0)

        t_own = _median_ms(in_place(1))
        with threadpool_limits(1):
            t_np = _median_ms(lambda: a @ b)
        in_place(1)()
        ref = a.astype(np.float64) @ b.astype(np.float64)
        err = float(np.abs(c - ref).max() / max(1.0, np.abs(ref).max()))
        tiles = np.empty(G.tiles_size(m), np.float32)
        numba.set_num_threads(two)
        t_2 = _median_ms(lambda: G.gemm_threads(ap, m, k, b, c, edge, tiles))
        t_own2 = _median_ms(in_place(two))
        numba.set_num_threads(1)
        with threadpool_limits(two):
            t_np2 = _median_ms(lambda: a @ b)
        print(f"{m}x{k}x{n:<8} {flop / t_full / 1e6:>12.1f} {flop / t_own / 1e6:>9.1f} {flop / t_np / 1e6:>11.1f}"
              f" {t_np / t_own:>14.2f}x  {err:.1e} | {flop / t_2 / 1e6:>6.1f}, {flop / t_own2 / 1e6:>6.1f} "
              f"(x{t_own / t_own2:.2f}), {flop / t_np2 / 1e6:>6.1f} (x{t_np / t_np2:.2f})")


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


def model_table(models):
    import jitmnn
    from jitmnn.models import prepare_model, sample_input

    work = tempfile.mkdtemp(prefix="jitmnn-gemm-")
    print(f"\n{'model (1 thread)':<17} {'default ms':>11} {'Conv=im2col+BLAS':>17} {'Conv=own_gemm':>14}  max |diff|")
    for name in models:
        _, path = prepare_model(name, work)
        x = sample_input(name)
        feed = {"input": x} if isinstance(x, np.ndarray) else x
        mods = [jitmnn.load(path), jitmnn.load(path, overrides={"Conv": "im2col"}),
                jitmnn.load(path, overrides={"Conv": "own_gemm"})]
        outs = [m.run(feed) for m in mods]
        diff = max(float(np.abs(outs[0][k] - o[k]).max()) for o in outs[1:] for k in outs[0])
        times = [[] for _ in mods]
        for _ in range(15):  # interleaved, so load drifts hit all three
            for m, t in zip(mods, times):
                t.append(_median_ms(lambda: m.run(feed), min_time=0.0, min_runs=1))
        d, b, o = (float(np.median(t)) for t in times)
        print(f"{name:<17} {d:>11.2f} {b:>17.2f} {o:>14.2f}  {diff:.1e}")
        for m in mods:
            m.close()


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
        model_table(args.models.split(","))


if __name__ == "__main__":
    main()
