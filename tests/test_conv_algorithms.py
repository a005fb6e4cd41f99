"""Conv-family algorithm behaviour beyond the registry-wide equivalence test. The im2col tile loop: with
tiles narrower than the output (memory="low", or a small tile knob) every tile boundary -- mid-row, exact
row ends, a ragged last tile -- must give the reference's answer, and scratch_bytes must shrink with the
tile. Also: depthwise 1 vs 2 threads, ConvTranspose col2im tiles, read-only (memmap-like) weights."""

import numpy as np
import pytest

from jitmnn import config as jconfig
from jitmnn.config import SessionConfig
from jitmnn.ops import registry
from tests import tolerances
from tests.cases.conv import CONV_CASES
from tests.harness import make_ctx, run_case
from tests.reference.conv import conv as ref_conv

GENERAL = [c for c in CONV_CASES if not c.id.startswith("dw")]


@pytest.mark.parametrize("tile", [1, 7, 9, 64])
@pytest.mark.parametrize("case", GENERAL, ids=[c.id for c in GENERAL])
def test_im2col_tiles_match_reference(case, tile, monkeypatch):
    monkeypatch.setattr(jconfig, "IM2COL_TILE_COLUMNS", tile)
    monkeypatch.setattr(jconfig, "IM2COL_TILE_BYTES", 0)
    got = run_case(case, "im2col")
    ref = ref_conv(dict(case.attrs), case.inputs)
    assert tolerances.rel_err(got[0], ref[0]) <= tolerances.F32, f"tile {tile}: {case}"


def test_low_memory_uses_the_small_tile(monkeypatch):
    case = next(c for c in GENERAL if c.id == "3x3-c17k17-s2-asym")
    monkeypatch.setattr(jconfig, "IM2COL_TILE_COLUMNS_LOW", 5)
    alg = registry.algorithms("Conv")["im2col"]
    low = alg.scratch_bytes(make_ctx(case, SessionConfig(memory="low")))
    normal = alg.scratch_bytes(make_ctx(case, SessionConfig()))
    assert low < normal
    got = run_case(case, "im2col", SessionConfig(memory="low"))
    assert tolerances.rel_err(got[0], ref_conv(dict(case.attrs), case.inputs)[0]) <= tolerances.F32


def test_contiguous_f32_weight_is_not_copied():
    """A contiguous float32 weight (e.g. the .jmnn memmap) is the packed layout: no copy, no weight bytes."""
    case = next(c for c in GENERAL if c.id == "3x3-c3k13-p1")
    ctx = make_ctx(case)
    alg = registry.algorithms("Conv")["im2col"]
    w, _ = alg.pack(ctx)
    assert np.shares_memory(w, ctx.consts[1])
    assert alg.weight_bytes(ctx) == 4 * 13  # only the bias copy


DEPTHWISE = [c for c in CONV_CASES if c.id.startswith("dw")]


@pytest.mark.parametrize("case", DEPTHWISE, ids=[c.id for c in DEPTHWISE])
def test_depthwise_two_threads_matches_one(case, monkeypatch):
    """The prange variant (one padded plane per thread) must give the serial kernel's exact result; the test
    switches NUMBA_PARALLEL_KERNELS on (whatever the default) and checks the plan really takes it."""
    monkeypatch.setattr(jconfig, "NUMBA_PARALLEL_KERNELS", True)
    alg = registry.algorithms("Conv")["depthwise"]
    assert alg.setup(make_ctx(case, SessionConfig(num_threads=2))).threads == 2
    one = run_case(case, "depthwise")
    two = run_case(case, "depthwise", SessionConfig(num_threads=2))
    np.testing.assert_array_equal(one[0], two[0])
    assert tolerances.rel_err(two[0], ref_conv(dict(case.attrs), case.inputs)[0]) <= tolerances.F32


@pytest.mark.parametrize("tile", [1, 5, 16])
def test_convtranspose_tiles_match_reference(tile, monkeypatch):
    """gemm_col2im over input-pixel tiles: overlapping taps of neighbouring tiles must all accumulate."""
    from tests.cases.conv import CONVT_CASES
    from tests.reference.conv import conv_transpose

    monkeypatch.setattr(jconfig, "IM2COL_TILE_COLUMNS", tile)
    monkeypatch.setattr(jconfig, "IM2COL_TILE_BYTES", 0)
    for case in CONVT_CASES:
        got = run_case(case, "gemm_col2im")
        ref = conv_transpose(dict(case.attrs), case.inputs)
        assert tolerances.rel_err(got[0], ref[0]) <= tolerances.F32, f"tile {tile}: {case}"


def test_matmul_constant_left_operand():
    """W @ x with the constant on the left (packed operand 0) and a fused activation."""
    from tests.harness import Case
    from tests.reference.conv import matmul

    a = np.random.default_rng(5).standard_normal((13, 17)).astype(np.float32)
    b = np.random.default_rng(6).standard_normal((2, 17, 9)).astype(np.float32)
    case = Case("MatMul", [a, b], {"activation": "relu"}, const_inputs=(0,), id="const-left")
    got = run_case(case, "blas")
    assert tolerances.rel_err(got[0], matmul(dict(case.attrs), [a, b])[0]) <= tolerances.F32


def test_read_only_weights_never_reach_a_kernel():
    """.jmnn weights are read-only memmaps: algorithms must work with them, and Numba kernels must never be
    compiled for a read-only array type (that is a second signature per kernel: compile time and RSS)."""
    from numba.core import types

    from jitmnn.kernels import conv as KC
    from jitmnn.kernels import depthwise as KD
    from jitmnn.kernels import epilogue as KE
    from tests.harness import Case

    ids = {"1x1-c17k13", "3x3-c17k17-s2-asym", "dw-3x3-c13", "dw-5x5-s21", "g2-3x3"}
    for case in [c for c in CONV_CASES if c.id in ids]:
        ro = [None if a is None else a.copy() for a in case.inputs]
        for a in ro[1:]:
            a.setflags(write=False)
        ro_case = Case(case.op, ro, case.attrs, case.const_inputs, case.id)
        ref = ref_conv(dict(case.attrs), case.inputs)[0]
        for name, alg in registry.algorithms("Conv").items():
            if name in ("gemm1x1", "im2col", "depthwise") and alg.applies(make_ctx(ro_case)):
                got = run_case(ro_case, name)
                assert tolerances.rel_err(got[0], ref) <= tolerances.F32, f"{name} on {case}"
    for kern in (KC.im2col_tile, KD.depthwise, KE.bias_act_rows):
        for sig in kern.signatures:
            assert all(t.mutable for t in sig if isinstance(t, types.Array)), f"{kern.__name__} compiled for {sig}"
