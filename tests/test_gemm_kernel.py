"""jitmnn's own packed GEMM (kernels/gemm.py) against a float64 numpy product, on shapes that break every tile
(M not a multiple of 8, N not of 32, K not of the 256-deep slab), and the wrappers' shape checks."""

import numpy as np
import pytest

from jitmnn.kernels import gemm as G
from tests import tolerances


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (8, 16, 32), (13, 37, 45), (17, 300, 7), (9, 257, 33),
                                   (64, 576, 196), (3, 513, 100)])
def test_packed_gemm_matches_float64_product(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    G.gemm(G.pack_a(a), m, k, b, c, np.empty(G.edge_size(k), np.float32), np.empty(G.MR * G.NR, np.float32))
    ref = a.astype(np.float64) @ b.astype(np.float64)
    # fp32 FMAs over K <= 600 terms, summed per 256-deep slab: the F32 tier (see tests/tolerances.py)
    assert tolerances.rel_err(c, ref) <= tolerances.F32, f"m={m} k={k} n={n}"


def test_packing_pads_with_zeros():
    """A's panels and B's partial last panel are zero-padded, so the padded lanes add nothing."""
    a = np.arange(1, 1 + 3 * 5, dtype=np.float32).reshape(3, 5)
    ap = G.pack_a(a).reshape(-1, 5, G.MR)
    np.testing.assert_array_equal(ap[0, :, :3], a.T)
    assert not ap[0, :, 3:].any()
    b = np.arange(1, 1 + 4 * 40, dtype=np.float32).reshape(4, 40)  # one whole panel, one of 8 columns
    edge = np.full(G.edge_size(4), np.nan, np.float32)
    c = np.empty((3, 40), np.float32)
    G.gemm(G.pack_a(a[:, :4]), 3, 4, b, c, edge, np.empty(G.MR * G.NR, np.float32))
    np.testing.assert_array_equal(edge.reshape(4, G.NR)[:, :8], b[:, 32:])
    assert not edge.reshape(4, G.NR)[:, 8:].any()
    np.testing.assert_allclose(c, a[:, :4] @ b, rtol=1e-6)


def test_wrappers_refuse_wrong_shapes_before_the_kernel_runs():
    a = np.ones((8, 16), np.float32)
    ap = G.pack_a(a)
    with pytest.raises(ValueError):  # K of b does not match the packed A
        G.gemm(ap, 8, 16, np.ones((15, 32), np.float32), np.empty((8, 32), np.float32),
               np.empty(G.edge_size(16), np.float32), np.empty(G.MR * G.NR, np.float32))
    with pytest.raises(ValueError):  # edge scratch too small
        G.gemm(ap, 8, 16, np.ones((16, 40), np.float32), np.empty((8, 40), np.float32), np.empty(10, np.float32),
               np.empty(G.MR * G.NR, np.float32))
    with pytest.raises(ValueError):
        G.pack_a(np.ones(5, np.float32))


@pytest.mark.parametrize("m,k,n", [(13, 37, 45), (64, 576, 196), (33, 300, 70)])
def test_threaded_gemm_matches_float64_product(m, k, n):
    """C's 8-row panels split across 2 Numba threads: the same tiles, so the same F32 tier."""
    import numba

    rng = np.random.default_rng(k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        G.gemm_threads(G.pack_a(a), m, k, b, c, np.empty(G.edge_size(k), np.float32),
                       np.empty(G.tiles_size(m), np.float32))
    finally:
        numba.set_num_threads(before)
    assert tolerances.rel_err(c, a.astype(np.float64) @ b.astype(np.float64)) <= tolerances.F32
