"""Conv on jitmnn's own micro-kernel (kernels/conv_gemm.py, algorithm "own_gemm") and the threaded Winograd
stages, beyond the registry-wide equivalence test (which runs them at one thread): every activation fused into
the store, tiles that cut rows, columns and K-slabs anywhere, 1-3 thread slots (each a static share of the
tiles), the channel split for small maps, and the wrappers' checks before any kernel runs."""

import dataclasses

import numba
import numpy as np
import pytest

from jitmnn import config as jconfig
from jitmnn.config import SessionConfig
from jitmnn.kernels import act as A
from jitmnn.kernels import conv_gemm as CG
from jitmnn.ops import registry
from tests import tolerances
from tests.cases.conv import CONV_CASES
from tests.harness import as_float, make_ctx, run_case
from tests.reference.conv import conv as ref_conv

GENERAL = [c for c in CONV_CASES if not c.id.startswith("dw")]


def _direct(x, w, b, kh, kw, s, p, d):
    """float64 conv of one image, symmetric pads: the plain reference for the kernel-level tests."""
    C, H, W = x.shape
    K = w.shape[0]
    xp = np.pad(x.astype(np.float64), ((0, 0), (p, p), (p, p)))
    OH = (H + 2 * p - (kh - 1) * d - 1) // s + 1
    OW = (W + 2 * p - (kw - 1) * d - 1) // s + 1
    w4 = w.reshape(K, C, kh, kw).astype(np.float64)
    y = np.zeros((K, OH, OW))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * d:i * d + s * (OH - 1) + 1:s, j * d:j * d + s * (OW - 1) + 1:s]
            y += np.einsum("kc,chw->khw", w4[:, :, i, j], patch)
    return (y + b[:, None, None]).reshape(K, -1), OW


def _with_threads(n, fn):
    before = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        return fn()
    finally:
        numba.set_num_threads(before)


# (C, H, W, K, k, stride, pad, dilation, tile columns, rows per block, slots): ragged last column panels (P % 32),
# K not a multiple of 8, several 256-deep K-slabs (C * 9 > 256), a pointwise conv read in place, row blocks.
GEOMETRIES = [
    (3, 17, 19, 13, 3, 2, 1, 1, 64, 13, 2),
    (64, 14, 14, 37, 1, 1, 0, 1, 32, 37, 2),
    (300, 7, 7, 9, 3, 1, 1, 1, 49, 8, 3),
    (5, 9, 40, 70, 3, 1, 1, 1, 96, 24, 3),
    (16, 8, 8, 8, 1, 2, 0, 1, 16, 8, 2),
    (7, 12, 12, 11, 3, 1, 2, 2, 32, 11, 1),
    (40, 10, 10, 19, 3, 1, 1, 1, 100, 16, 2),
]


@pytest.mark.parametrize("geo", GEOMETRIES, ids=[f"c{g[0]}-{g[1]}x{g[2]}-k{g[3]}-{g[4]}x{g[4]}s{g[5]}" for g in GEOMETRIES])
@pytest.mark.parametrize("code", [A.NONE, A.RELU, A.CLIP, A.HARDSIGMOID, A.HARDSWISH, A.SIGMOID, A.GELU])
def test_conv_tiles_match_float64_conv(geo, code):
    C, H, W, K, k, s, p, d, t, mb, slots = geo
    rng = np.random.default_rng(C * 100 + K + code)
    x = rng.standard_normal((C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C * k * k)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    ref, OW = _direct(x, w, b, k, k, s, p, d)
    p0, p1 = {A.CLIP: (-1.0, 2.0), A.HARDSIGMOID: (0.2, 0.5)}.get(code, (0.0, 0.0))
    ref = A.numpy_apply(ref, {v: n for n, v in A.NAMES.items() if n}.get(code), (p0, p1))
    P = ref.shape[1]
    y = np.full((K, P), np.nan, np.float32)
    pointwise = k == 1 and s == 1 and p == 0
    cols_n, edge_n, micro_n = CG.slot_floats(C * k * k, t, pointwise)
    scratch = [np.full((slots, max(n, 1)), np.nan, np.float32) for n in (cols_n, edge_n, micro_n)]
    _with_threads(slots, lambda: CG.conv_tiles(x, w, b, y, *scratch, (OW, k, k, s, s, p, p, d, d), min(t, P), mb,
                                               code, p0, p1))
    # fp32 FMAs over <= 2700 terms in 256-deep slabs vs float64: the F32 tier
    assert tolerances.rel_err(y, ref) <= tolerances.F32


def test_slots_split_the_work_and_agree_bit_for_bit():
    """The tiles a thread computes do not depend on how many threads there are: 1, 2 and 3 slots give the
    same bits (each tile's arithmetic is the same, only its thread changes)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 30, 30)).astype(np.float32)
    w = rng.standard_normal((40, 32 * 9)).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    outs = []
    for slots in (1, 2, 3):
        y = np.empty((40, 900), np.float32)
        scratch = [np.empty((slots, n), np.float32) for n in CG.slot_floats(32 * 9, 128, False)]
        _with_threads(slots, lambda: CG.conv_tiles(x, w, b, y, *scratch, (30, 3, 3, 1, 1, 1, 1, 1, 1), 128, 16,
                                                   A.RELU, 0.0, 0.0))
        outs.append(y)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_conv_tiles_refuses_bad_shapes_and_scratch_before_running():
    x = np.ones((4, 8, 8), np.float32)
    w = np.ones((6, 36), np.float32)
    b = np.zeros(6, np.float32)
    y = np.empty((6, 64), np.float32)
    ok = [np.empty((2, n), np.float32) for n in CG.slot_floats(36, 32, False)]
    geo = (8, 3, 3, 1, 1, 1, 1, 1, 1)
    CG.conv_tiles(x, w, b, y, *ok, geo, 32, 8, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="scratch"):  # im2col columns too small for the tile
        CG.conv_tiles(x, w, b, y, np.empty((2, 10), np.float32), ok[1], ok[2], geo, 32, 8, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="multiple of 32"):  # a tile narrower than the output, not whole panels
        CG.conv_tiles(x, w, b, y, *ok, geo, 20, 8, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="do not fit"):  # weights for another kernel size
        CG.conv_tiles(x, np.ones((6, 20), np.float32), b, y, *ok, geo, 32, 8, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="float32"):
        CG.conv_tiles(x.astype(np.float64), w, b, y, *ok, geo, 32, 8, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="pixels"):  # a pointwise conv must cover the whole input plane
        CG.conv_tiles(x, np.ones((6, 4), np.float32), b, np.empty((6, 60), np.float32),
                      *[np.empty((2, n), np.float32) for n in CG.slot_floats(4, 32, True)],
                      (6, 1, 1, 1, 1, 0, 0, 1, 1), 32, 8, 0, 0.0, 0.0)


@pytest.mark.parametrize("a2,K,C,T,slots", [(16, 13, 37, 45, 2), (36, 64, 64, 196, 2), (64, 9, 300, 33, 3)])
def test_batched_gemm_matches_numpy(a2, K, C, T, slots):
    rng = np.random.default_rng(a2 + K)
    U = rng.standard_normal((a2, K, C)).astype(np.float32)
    V = rng.standard_normal((a2, C, T)).astype(np.float32)
    M = np.full((a2, K, T), np.nan, np.float32)
    edges = np.empty((slots, C * CG.NR), np.float32)
    micros = np.empty((slots, CG.MR * CG.NR), np.float32)
    _with_threads(slots, lambda: CG.batched_gemm(U, V, M, np.zeros(K, np.float32), edges, micros))
    assert tolerances.rel_err(M, U.astype(np.float64) @ V.astype(np.float64)) <= tolerances.F32
    with pytest.raises(ValueError):
        CG.batched_gemm(U, V, M, np.zeros(K, np.float32), edges[:, :10], micros)


@pytest.mark.parametrize("case", GENERAL, ids=[c.id for c in GENERAL])
def test_own_gemm_two_threads_matches_reference(case):
    """The algorithm at num_threads=2 (tiles dealt to two slots wherever the layer has the work for it)."""
    cfg = SessionConfig(num_threads=2)
    ctx = make_ctx(case, cfg)
    alg = registry.algorithms("Conv")["own_gemm"]
    if not alg.applies(ctx):
        pytest.skip("own_gemm does not apply")
    got = _with_threads(2, lambda: run_case(case, "own_gemm", cfg))
    assert tolerances.rel_err(got[0], ref_conv(dict(case.attrs), case.inputs)[0]) <= tolerances.F32


def test_big_layers_use_both_threads_and_small_maps_split_channels():
    from tests.cases.conv import conv_case

    cfg = SessionConfig(num_threads=2)
    big = registry.algorithms("Conv")["own_gemm"].setup(make_ctx(conv_case("c64", 1, 64, (28, 28), 64, (3, 3), pads=(1, 1, 1, 1)), cfg))
    assert big.scratch.slots == 2 and big.block_rows == 64
    assert -(-784 // big.tile_columns) % 2 == 0  # an even number of column tiles: both threads get the same share
    small = registry.algorithms("Conv")["own_gemm"].setup(make_ctx(conv_case("c256", 1, 256, (7, 7), 256, (3, 3), pads=(1, 1, 1, 1)), cfg))
    assert small.scratch.slots == 2 and small.tile_columns == 49 and small.block_rows == 128
    one = registry.algorithms("Conv")["own_gemm"].setup(make_ctx(conv_case("c64", 1, 64, (28, 28), 64, (3, 3), pads=(1, 1, 1, 1))))
    assert one.scratch.slots == 1


def test_parallel_kernels_off_means_one_slot(monkeypatch):
    from tests.cases.conv import conv_case

    monkeypatch.setattr(jconfig, "NUMBA_PARALLEL_KERNELS", False)
    p = registry.algorithms("Conv")["own_gemm"].setup(make_ctx(conv_case("c64", 1, 64, (28, 28), 64, (3, 3), pads=(1, 1, 1, 1)),
                                                                SessionConfig(num_threads=2)))
    assert p.scratch.slots == 1


@pytest.mark.parametrize("unit", ["winograd_f23", "winograd_f43", "winograd_f63"])
def test_threaded_winograd_matches_serial(unit):
    """At num_threads=2 all three stages run threaded (transforms per channel, the alpha^2 products on the own
    micro-kernel); the result stays in the unit's tier of the reference, and within F32 of the serial run."""
    from tests.cases.conv import conv_case

    case = conv_case("w", 2, 24, (19, 23), 20, (3, 3), pads=(1, 1, 1, 1))
    cfg = SessionConfig(num_threads=2)
    assert registry.algorithms("Conv")[unit].setup(make_ctx(case, cfg)).slots == 2
    serial = run_case(case, unit)[0]
    threaded = _with_threads(2, lambda: run_case(case, unit, cfg))[0]
    ref = ref_conv(dict(case.attrs), case.inputs)[0]
    tier = {"winograd_f23": tolerances.F32, "winograd_f43": tolerances.WINOGRAD_F43,
            "winograd_f63": tolerances.WINOGRAD_F63}[unit]
    assert tolerances.rel_err(threaded, ref) <= tier
    assert tolerances.rel_err(threaded, serial) <= tolerances.F32


def test_hybrid_own_gemm_two_threads_and_small_panels_match_reference(monkeypatch):
    """Compressed weights expanded panel by panel (a panel smaller than the layer: several panels, each
    re-reading the im2col tiles) and spread over two threads: the dequantisation is exact, so F32."""
    from tests.cases.conv_hybrid import CASES as HYBRID

    monkeypatch.setattr(jconfig, "HYBRID_PANEL_BYTES", 4 * 8 * 160)  # 8 rows of up to 160 floats per panel
    cfg = SessionConfig(num_threads=2, memory="low")
    ran = 0
    for case in HYBRID:
        if not registry.algorithms("Conv")["hybrid_own_gemm"].applies(make_ctx(case, cfg)):
            continue
        got = _with_threads(2, lambda: run_case(case, "hybrid_own_gemm", cfg))
        ref = ref_conv(dict(case.attrs), [as_float(a) for a in case.inputs])
        assert tolerances.rel_err(got[0], ref[0]) <= tolerances.F32, case.id
        ran += 1
    assert ran >= 20


def test_upsampling_convtranspose_on_two_threads_matches_reference():
    """ConvTranspose "own_gemm" (kernel == stride: every output pixel written once, so tiles of input pixels
    can go to different threads) at num_threads=2, grouped and not, against the reference; and its wrapper's
    checks."""
    from tests.cases.conv import convt_case
    from tests.reference.conv import conv_transpose

    cfg = SessionConfig(num_threads=2)
    for case, slots in ((convt_case("k2s2", 1, 24, (40, 44), 24, (2, 2), strides=(2, 2), act=("relu", [])), 2),
                        (convt_case("k3s3-g2", 2, 6, (17, 9), 4, (3, 3), strides=(3, 3), group=2), 1)):  # too small
        params = registry.algorithms("ConvTranspose")["own_gemm"].setup(make_ctx(case, cfg))
        assert params.slots == slots
        got = _with_threads(2, lambda: run_case(case, "own_gemm", cfg))
        assert tolerances.rel_err(got[0], conv_transpose(dict(case.attrs), case.inputs)[0]) <= tolerances.F32
    x = np.ones((4, 5, 6), np.float32)
    ok = dict(cols=np.empty((2, 8 * 4 * 30), np.float32), edges=np.empty((2, 4 * CG.NR), np.float32),
              micros=np.empty((2, CG.MR * CG.NR), np.float32), bias_rows=np.zeros(32, np.float32))
    CG.convt_tiles(x, np.ones((4, 32), np.float32), np.zeros(8, np.float32), np.empty((8, 10, 12), np.float32),
                   **ok, kernel=(2, 2), t=30, act_code=0, p0=0.0, p1=0.0)
    with pytest.raises(ValueError, match="do not fit"):  # output not H*2 x W*2
        CG.convt_tiles(x, np.ones((4, 32), np.float32), np.zeros(8, np.float32), np.empty((8, 10, 11), np.float32),
                       **ok, kernel=(2, 2), t=30, act_code=0, p0=0.0, p1=0.0)
    with pytest.raises(ValueError, match="scratch"):  # tile wider than the column scratch
        CG.convt_tiles(x, np.ones((4, 32), np.float32), np.zeros(8, np.float32), np.empty((8, 10, 12), np.float32),
                       **ok, kernel=(2, 2), t=31, act_code=0, p0=0.0, p1=0.0)


@pytest.mark.parametrize("unit", ["winograd_f23_lean", "winograd_f43_lean"])
@pytest.mark.parametrize("threads", [1, 2])
def test_lean_winograd_blocks_of_channels_and_tiles(unit, threads, monkeypatch):
    """Winograd with the weight transform per run: small U and tile budgets force several channel blocks (each
    re-running the input transform) and several tile blocks; fp32 weights read in place and int8 weights
    expanded per block both match the reference in the unit's tier, and nothing but the bias is kept."""
    from jitmnn.compression import compress
    from jitmnn.ops import conv_winograd_lean as CWL
    from tests.cases.conv import conv_case

    monkeypatch.setattr(CWL, "LEAN_U_BYTES", 4 * 36 * 24 * 8)  # F(4,3): 8 output channels per block, F(2,3): 16
    monkeypatch.setattr(CWL, "LEAN_BLOCK_BYTES", 4 * 36 * (24 + 8) * 12)  # about 12 tiles per block
    cfg = SessionConfig(num_threads=threads, memory="low")
    tier = tolerances.F32 if unit == "winograd_f23_lean" else tolerances.WINOGRAD_F43
    case = conv_case("lean", 2, 24, (19, 23), 20, (3, 3), pads=(1, 1, 1, 1), act=("relu", []))
    quant = dataclasses.replace(case, inputs=[case.inputs[0], compress(case.inputs[1], "int8", 0, False),
                                              case.inputs[2]])
    alg = registry.algorithms("Conv")[unit]
    for c in (case, quant):
        ctx = make_ctx(c, cfg)
        p = alg.setup(ctx)
        assert p.block_k in (8, 16) and len(p.tiles.blocks) > 2  # 20 channels: 2-3 blocks
        assert alg.weight_bytes(ctx) == 4 * 20 and not alg.big_buffers
        got = _with_threads(threads, lambda: run_case(c, unit, cfg))[0]
        assert tolerances.rel_err(got, ref_conv(dict(c.attrs), [as_float(a) for a in c.inputs])[0]) <= tier


def test_memory_low_plans_lean_winograd_where_it_pays():
    """ResNet-18's 64@56 layer under memory=low: the lean F(4,3) (no weight copy) beats the direct algorithms;
    the copying Winograd stays refused."""
    from jitmnn import planner
    from tests.cases.conv import conv_case

    case = conv_case("r18", 1, 64, (56, 56), 64, (3, 3), pads=(1, 1, 1, 1))
    cfg = SessionConfig(memory="low")
    alg, _, considered = planner.choose(make_ctx(case, cfg), cfg, registry.algorithms("Conv"))
    assert alg.name == "winograd_f43_lean"
    assert not any(a.name in ("winograd_f23", "winograd_f43", "winograd_f63") for _, a in considered)
