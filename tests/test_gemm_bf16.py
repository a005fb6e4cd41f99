"""The bf16 GEMM (kernels/gemm_bf16.py) and Conv "bf16": exact-arithmetic checks (inputs pre-rounded to bf16, so
the kernel's only freedom is fp32 accumulation order: the F32 tier), rounding against numpy and the weight file's
bf16 storage, shape checks, and the CPU gate (a CPU without AVX512-BF16 never plans it)."""

import numpy as np
import pytest

from jitmnn import cpu
from jitmnn.compression import compress
from jitmnn.kernels import gemm_bf16 as G
from tests import tolerances

needs_bf16 = pytest.mark.skipif(cpu.bf16_tier() != "avx512_bf16",
                                reason=f"this CPU has no AVX512-BF16 ({cpu.features().describe()})")

SHAPES = [(1, 1, 1), (8, 2, 32), (13, 7, 45), (13, 8, 45), (17, 300, 7), (9, 514, 33), (64, 576, 196)]


def _bf16_product(a, b):
    return G.round_to_bf16(a).astype(np.float64) @ G.round_to_bf16(b).astype(np.float64)


@needs_bf16
@pytest.mark.parametrize("threads", [1, 2, 3])  # 3 chunks on 2 Numba threads: more chunks than threads is fine
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_bf16_gemm_is_exact_on_bf16_values(m, k, n, threads):
    """Shapes break every tile: M not a multiple of 8, N not of 32, odd K (a zero-padded last pair), K past the
    256-deep slab; the columns start at an offset inside wider rows, as an im2col tile's do."""
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n + 5)).astype(np.float32)
    layouts = [G.pack_a_bf16(a)]
    if k % 2 == 0:
        layouts.append(G.weights_in_place(compress(a, "bf16").data.reshape(m, k)))
    ref = _bf16_product(a, b[:, 3:3 + n])
    for w in layouts:
        c = np.full((m, n), np.nan, np.float32)
        G.gemm_bf16(w, b, 3, n, c, np.empty(G.packed_b_size(k, n), np.uint32), np.empty(G.tiles_size(threads),
                    np.float32), threads)
        assert tolerances.rel_err(c, ref) <= tolerances.F32, f"m={m} k={k} n={n} pair stride {w.pair}"


@needs_bf16
def test_bf16_gemm_reads_fp16_activations():
    """precision=low may store the activations fp16 (uint16 bits): they are widened and rounded to bf16 while
    packing, the same values as from float32."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((24, 40)).astype(np.float32)
    b16 = rng.standard_normal((40, 70)).astype(np.float16)
    c = np.empty((24, 70), np.float32)
    G.gemm_bf16(G.pack_a_bf16(a), b16.view(np.uint16), 0, 70, c, np.empty(G.packed_b_size(40, 70), np.uint32),
                np.empty(G.MR * G.NR, np.float32))
    assert tolerances.rel_err(c, _bf16_product(a, b16.astype(np.float32))) <= tolerances.F32


def test_rounding_matches_the_files_bf16_and_keeps_nan():
    """Round to nearest even, ties included (0x3F808000 is a tie that rounds down to even, 0x3F818000 up), the
    same as the converter's bf16 weight storage; a NaN stays NaN instead of carrying into the sign."""
    x = np.array([1.0, -2.5, 3.14159, 1e-30, 65504.0, np.inf, -np.inf], np.float32)
    ties = np.array([0x3F808000, 0x3F818000, 0x7F7FFFFF], np.uint32).view(np.float32)
    x = np.concatenate([x, ties])
    stored = compress(x.reshape(1, -1), "bf16").data.reshape(-1)
    np.testing.assert_array_equal(G.round_to_bf16(x).view(np.uint32) >> 16, stored)
    assert G.round_to_bf16(ties).view(np.uint32)[:2].tolist() == [0x3F800000, 0x3F820000]
    assert np.isnan(G.round_to_bf16(np.array([np.nan], np.float32))).all()


@needs_bf16
def test_nan_in_the_activations_reaches_the_output():
    a = np.ones((8, 4), np.float32)
    b = np.ones((4, 32), np.float32)
    b[2, 5] = np.nan
    c = np.empty((8, 32), np.float32)
    G.gemm_bf16(G.pack_a_bf16(a), b, 0, 32, c, np.empty(G.packed_b_size(4, 32), np.uint32),
                np.empty(G.MR * G.NR, np.float32))
    assert np.isnan(c[:, 5]).all() and not np.isnan(np.delete(c, 5, axis=1)).any()


def test_wrapper_refuses_wrong_shapes_before_the_kernel_runs():
    w = G.pack_a_bf16(np.ones((8, 16), np.float32))
    tiles = np.empty(G.MR * G.NR, np.float32)
    with pytest.raises(ValueError, match="gemm_bf16"):  # columns past the end of b
        G.gemm_bf16(w, np.ones((16, 10), np.float32), 5, 10, np.empty((8, 10), np.float32),
                    np.empty(G.packed_b_size(16, 10), np.uint32), tiles)
    with pytest.raises(ValueError, match="gemm_bf16"):  # b has the wrong K
        G.gemm_bf16(w, np.ones((15, 10), np.float32), 0, 10, np.empty((8, 10), np.float32),
                    np.empty(G.packed_b_size(16, 10), np.uint32), tiles)
    with pytest.raises(ValueError, match="gemm_bf16"):  # packed-B scratch too small
        G.gemm_bf16(w, np.ones((16, 40), np.float32), 0, 40, np.empty((8, 40), np.float32),
                    np.empty(G.packed_b_size(16, 32), np.uint32), tiles)
    with pytest.raises(ValueError, match="gemm_bf16"):  # 2 threads need a micro-tile each
        G.gemm_bf16(G.pack_a_bf16(np.ones((20, 16), np.float32)), np.ones((16, 8), np.float32), 0, 8,
                    np.empty((20, 8), np.float32), np.empty(G.packed_b_size(16, 8), np.uint32), tiles, 2)
    with pytest.raises(ValueError, match="even k"):
        G.weights_in_place(np.zeros((4, 7), np.uint16))


def test_a_cpu_without_avx512_bf16_never_plans_bf16(monkeypatch):
    """Patched detection: Conv "bf16" does not apply, precision=low plans its fp32-compute algorithms."""
    import jitmnn
    from jitmnn.graph import Graph, Node, TensorInfo

    monkeypatch.setattr(cpu, "bf16_tier", lambda: "fp32")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    g = Graph("conv", [Node("c", "Conv", ["x", "w"], ["y"], {"pads": [1, 1, 1, 1]})], [TensorInfo("x", (1, 16, 12, 12))],
              ["y"], {"w": w})
    m = jitmnn.from_graph(g, precision="low")
    x = rng.standard_normal((1, 16, 12, 12)).astype(np.float32)
    y = m.run({"x": x})["y"]
    algs = {s.node.name: s.algorithm for s in m.explain().plan.steps}
    assert algs["c"] != "bf16"
    ref = jitmnn.from_graph(g).run({"x": x})["y"]
    assert tolerances.rel_err(y, ref) <= tolerances.FP16 + tolerances.FP16_ACTIVATIONS



@pytest.mark.parametrize("n", [32, 45])  # whole panels go through vector registers, a partial one lane by lane
def test_packing_rounds_like_numpy_in_both_paths(n):
    """The packed words hold exactly round_to_bf16's bits (ties to even, NaN kept, inf kept), row 2p in the low
    half and row 2p + 1 in the high half."""
    rng = np.random.default_rng(n)
    b = rng.standard_normal((3, n)).astype(np.float32)
    b.view(np.uint32)[0, :4] = [0x3F808000, 0x3F818000, 0x7FC00001, 0x7F800000]  # ties, NaN, inf
    b.view(np.uint32)[1, :2] = [0xFF800000, 0x7F7FFFFF]
    words = np.empty(G.packed_b_size(3, n), np.uint32)
    G.pack_b(b, 0, n, words)
    bits = G.round_to_bf16(b).view(np.uint32) >> 16
    panels = words.reshape(-1, 2, G.NR)  # [panel, pair, column]
    for j in range(n):
        lo, hi = panels[j // G.NR, 0, j % G.NR] & 0xFFFF, panels[j // G.NR, 0, j % G.NR] >> 16
        assert (lo, hi) == (bits[0, j], bits[1, j]) or (np.isnan(b[0, j]) and lo & 0x7FC0 == 0x7FC0), j
        assert panels[j // G.NR, 1, j % G.NR] == bits[2, j]  # odd K: the last pair's high half is zero


@needs_bf16
@pytest.mark.parametrize("kernel,pads", [((3, 3), [1, 1, 1, 1]), ((1, 1), [0, 0, 0, 0])])
def test_bf16_conv_on_two_threads_equals_one_thread_bit_for_bit(kernel, pads, monkeypatch):
    """The threaded conv only splits each tile's columns between threads: every output sums its K in the same
    order, so precision=low with num_threads=2 gives exactly the 1-thread result (and the threaded path really
    ran: it is off by default, config.BF16_CONV_THREADS, so the test switches it on)."""
    import jitmnn
    from jitmnn import config as jconfig
    from jitmnn.graph import Graph, Node, TensorInfo

    monkeypatch.setattr(jconfig, "BF16_CONV_THREADS", True)

    rng = np.random.default_rng(3)
    w = rng.standard_normal((24, 32) + kernel).astype(np.float32)  # 3 row panels: split by columns
    g = Graph("conv", [Node("c", "Conv", ["x", "w"], ["y"], {"pads": pads})], [TensorInfo("x", (1, 32, 40, 40))],
              ["y"], {"w": w})
    x = rng.standard_normal((1, 32, 40, 40)).astype(np.float32)
    one = jitmnn.from_graph(g, precision="low", num_threads=1)
    two = jitmnn.from_graph(g, precision="low", num_threads=2)
    y1, y2 = one.run({"x": x})["y"], two.run({"x": x})["y"]
    steps = {n: {s.node.name: s for s in m.explain().plan.steps}["c"] for n, m in (("one", one), ("two", two))}
    assert steps["one"].algorithm == steps["two"].algorithm == "bf16"
    assert steps["two"].params[1].threads == 2 and steps["one"].params[1].threads == 1
    np.testing.assert_array_equal(y1, y2)


@needs_bf16
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("geom", [  # (C, H, W, kh, kw, strides, pads (top, left, bottom, right), dilations, col0, n)
    (5, 17, 18, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 7, 60),  # odd K (45): a zero-padded last pair
    (4, 10, 12, 3, 3, (2, 1), (0, 1, 2, 0), (1, 1), 3, 40),  # asymmetric pads, unequal strides
    (6, 12, 12, 3, 3, (1, 1), (2, 2, 2, 2), (2, 2), 0, 144),  # dilation, a whole map
    (16, 9, 11, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 5, 70),  # pointwise: the input rows are the columns
])
def test_threaded_conv_tile_equals_the_serial_gather_pack_and_gemm(geom, fp16, threads):
    """conv_tile_bf16_threads (each thread gathers, packs and multiplies its own columns) against im2col_tile +
    pack_b + gemm_packed_b on one thread: bit for bit, including a tile that starts mid-row and fp16 inputs."""
    from jitmnn.kernels import conv as KC

    C, H, W, kh, kw, strides, pads, dil, col0, n = geom
    OH = (H + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // strides[0] + 1
    OW = (W + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // strides[1] + 1
    n = min(n, OH * OW - col0)
    rng = np.random.default_rng(C * H + kh)
    x = rng.standard_normal((C, H, W)).astype(np.float32)
    if fp16:
        x = x.astype(np.float16).view(np.uint16)
    rows, m = C * kh * kw, 19
    w = G.pack_a_bf16(rng.standard_normal((m, rows)).astype(np.float32))
    cols = np.empty((rows, n), np.float32)
    KC.im2col_tile(x, cols, col0, n, OW, kh, kw, strides[0], strides[1], pads[0], pads[1], dil[0], dil[1])
    want = np.empty((m, n), np.float32)
    bpack = np.empty(G.packed_b_size(rows, n), np.uint32)
    G.gemm_bf16(w, cols, 0, n, want, bpack, np.empty(G.tiles_size(1), np.float32))
    got = np.full((m, n), np.nan, np.float32)
    G.conv_tile_bf16_threads(w, x, kh == 1 and strides == (1, 1) and not any(pads), col0, n, OW, kh, kw, strides,
                             pads, dil, np.empty(rows * n, np.float32), np.empty(G.packed_b_size(rows, n), np.uint32),
                             got, np.empty(G.tiles_size(threads), np.float32), threads)
    np.testing.assert_array_equal(got, want)


@needs_bf16
def test_an_fp16_file_computes_bf16_at_precision_low_without_extra_weight_memory():
    """Weights a file already stores fp16 are re-stored bf16 (same bytes) for convs the bf16 kernel reads in place,
    so `convert --fp16` models get bf16 compute too; int8 weights would stay quantized (hybrid kernels)."""
    import jitmnn
    from jitmnn.compression import compress_graph
    from jitmnn.graph import Graph, Node, TensorInfo

    rng = np.random.default_rng(5)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    g = Graph("conv", [Node("c", "Conv", ["x", "w"], ["y"], {"pads": [1, 1, 1, 1]})], [TensorInfo("x", (1, 16, 12, 12))],
              ["y"], {"w": w})
    x = rng.standard_normal((1, 16, 12, 12)).astype(np.float32)
    ref = jitmnn.from_graph(g).run({"x": x})["y"]
    compress_graph(g, "fp16")
    stored = g.constants["w"].nbytes
    m = jitmnn.from_graph(g, precision="low")
    y = m.run({"x": x})["y"]
    step = {s.node.name: s for s in m.explain().plan.steps}["c"]
    assert step.algorithm == "bf16" and step.params[0].consts[1].kind == "bf16"
    assert step.params[0].consts[1].nbytes == stored and m.memory_info()["weights_expanded_bytes"] <= 4 * 32
    assert tolerances.rel_err(y, ref) <= tolerances.BF16
    assert g.constants["w"].kind == "fp16"  # the loaded graph is a copy: the caller's stays as it was


@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("geom", [  # (C, H, W, kh, kw, strides, pads (top, left, bottom, right), dilations, col0, n)
    (3, 9, 11, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 0, 99),  # 3 channels, blocks of 2: the last block has 1
    (5, 17, 18, 7, 7, (2, 2), (3, 3, 3, 3), (1, 1), 7, 50),  # 49 taps: blocks of 2 channels, odd K
    (9, 10, 12, 3, 3, (2, 1), (0, 1, 2, 0), (1, 1), 3, 40),  # asymmetric pads, unequal strides, 5 blocks
    (4, 12, 12, 2, 2, (1, 1), (1, 1, 0, 0), (2, 2), 0, 121),  # even taps, dilation
    (40, 8, 8, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 0, 16),  # strided 1x1: 32 channels per block, then 8
    (3, 7, 9, 2, 4, (1, 3), (0, 2, 1, 2), (1, 2), 5, 9),  # tile ends inside an output row
])
def test_blockwise_gather_and_pack_equals_im2col_then_pack(geom, fp16):
    """pack_b_im2col gathers a few channels at a time; its words must equal packing the whole im2col tile that
    kernels/conv.py writes, bit for bit (padding zeros, blocks that end mid-K, fp16 inputs)."""
    from jitmnn.kernels import conv as KC

    C, H, W, kh, kw, strides, pads, dil, col0, n = geom
    OH = (H + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // strides[0] + 1
    OW = (W + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // strides[1] + 1
    n = min(n, OH * OW - col0)
    x = np.random.default_rng(C * H + kh).standard_normal((C, H, W)).astype(np.float32)
    if fp16:
        x = x.astype(np.float16).view(np.uint16)
    rows = C * kh * kw
    cols = np.empty((rows, n), np.float32)
    KC.im2col_tile(x, cols, col0, n, OW, kh, kw, strides[0], strides[1], pads[0], pads[1], dil[0], dil[1])
    want = np.full(G.packed_b_size(rows, n), 7, np.uint32)
    G.pack_b(cols, 0, n, want)
    got = np.full(G.packed_b_size(rows, n), 9, np.uint32)
    block = np.empty(min(C, G.im2col_block_channels(kh * kw)) * kh * kw * n, np.float32)
    G.pack_b_im2col(x, kh, kw, strides, pads, dil, OW, col0, n, got, block)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="pack_b_im2col"):  # a block buffer too small is refused, not overrun
        G.pack_b_im2col(x, kh, kw, strides, pads, dil, OW, col0, n, got, block[:-1])
