"""Winograd convolution: the transform math (float64, exact identities), the kernels against a plain
numpy direct convolution on every block/chunk path, the scratch bound, and the planner rules
(memory="low" never picks Winograd; precision="high" never picks F(6,3))."""

import dataclasses

import numpy as np
import pytest

from jitmnn import planner
from jitmnn.config import SessionConfig
from jitmnn.kernels import winograd as KW
from jitmnn.ops import conv_winograd as CW
from jitmnn.ops import registry
from tests import tolerances
from tests.harness import Case, make_ctx, rng

UNITS = (2, 4, 6)
WINOGRAD = tuple(CW.UNITS)


def direct_conv(x, w, b, pads):
    """Plain float64 3x3 stride-1 correlation (the ground truth these tests use)."""
    pt, pl, pb, pr = pads
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + oh, j:j + ow], np.asarray(w[:, :, i, j], np.float64))
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv_case(n, c, h, w, k, pads, bias=True, act=None, seed=0):
    x = rng(seed).standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng(seed + 1).standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    attrs = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": list(pads), "dilations": [1, 1], "group": 1}
    if act:
        attrs["activation"], attrs["activation_params"] = act, []
    inputs = [x, wt] + ([rng(seed + 2).standard_normal(k).astype(np.float32)] if bias else [])
    return Case("Conv", inputs, attrs, const_inputs=(1, 2), id="t")


# ---------------------------------------------------------------------------------------------------
# Transform math (float64)
@pytest.mark.parametrize("m", UNITS)
def test_1d_minimal_filtering_identity(m):
    """A^T [(G g) . (B^T d)] is the correlation of d with g, for every basis d and g (exact)."""
    AT, G, BT = KW.transform_matrices(m)
    alpha = m + 2
    for p in range(alpha):
        for q in range(3):
            d = np.eye(alpha)[p]
            g = np.eye(3)[q]
            got = AT @ ((G @ g) * (BT @ d))
            want = np.array([d[i:i + 3] @ g for i in range(m)])
            np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("m", UNITS)
def test_2d_tile_identity(m):
    """Y = A^T [(G g G^T) . (B^T d B)] A equals the 2-D correlation of one tile (float64, random data)."""
    AT, G, BT = KW.transform_matrices(m)
    alpha = m + 2
    r = rng(m)
    d, g = r.standard_normal((alpha, alpha)), r.standard_normal((3, 3))
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    want = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(y, want, atol=1e-11)


def test_f43_matches_lavin_gray():
    """F(4,3) equals the matrices printed in Lavin & Gray (2015), section 4.2."""
    AT, G, BT = KW.transform_matrices(4)
    np.testing.assert_array_equal(BT, [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                                       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]])
    np.testing.assert_array_equal(AT, [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                                       [0, 1, -1, 8, -8, 1]])
    np.testing.assert_allclose(G, [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], rtol=1e-15)


@pytest.mark.parametrize("m", UNITS)
def test_unrolled_transforms_match_matrices(m):
    """The kernels' unrolled 1-D transforms (_bt<m>, _at<m>) are B^T and A^T of transform_matrices."""
    AT, _, BT = KW.transform_matrices(m)
    bt, at = getattr(KW, f"_bt{m}").py_func, getattr(KW, f"_at{m}").py_func
    for p in range(m + 2):
        e = [np.float32(v) for v in np.eye(m + 2)[p]]
        np.testing.assert_array_equal(np.array(bt(*e), np.float64), BT[:, p])
        np.testing.assert_array_equal(np.array(at(*e), np.float64), AT[:, p])


@pytest.mark.parametrize("m", UNITS)
def test_weight_transform(m):
    _, G, _ = KW.transform_matrices(m)
    w = rng(7).standard_normal((5, 3, 3, 3))
    U = KW.transform_weights(w, G)
    alpha = m + 2
    assert U.shape == (alpha * alpha, 5, 3)
    np.testing.assert_allclose(U[:, 4, 2].reshape(alpha, alpha), G @ w[4, 2] @ G.T, atol=1e-13)


# ---------------------------------------------------------------------------------------------------
# Kernels vs the direct convolution, through every block / chunk path
SHAPES = [
    # n, c, h, w, k, pads
    (1, 1, 7, 9, 1, (1, 1, 1, 1)),
    (2, 3, 7, 9, 13, (0, 0, 0, 0)),
    (2, 13, 17, 18, 17, (1, 1, 1, 1)),
    (1, 17, 17, 18, 3, (0, 2, 1, 0)),
    (2, 3, 17, 18, 13, (3, 1, 0, 5)),
    (1, 3, 3, 3, 2, (0, 0, 0, 0)),  # a single output pixel
]


def _run(case, name, scratch_guard=64):
    """Run through the algorithm with exactly scratch_bytes of scratch followed by a guard region."""
    ctx = make_ctx(case)
    alg = registry.algorithms("Conv")[name]
    assert alg.applies(ctx)
    packed, params = alg.pack(ctx), alg.setup(ctx)
    n = alg.scratch_bytes(ctx)
    buf = np.full(n + scratch_guard, 0x5A, np.uint8)
    out = np.full(ctx.out_shapes[0], np.nan, np.float32)
    alg.run(packed, params, [np.asarray(a) for a in case.inputs], [out], buf[:n])
    assert (buf[n:] == 0x5A).all(), "kernel wrote past scratch_bytes"
    return out


@pytest.mark.parametrize("name", WINOGRAD)
@pytest.mark.parametrize("budget,chunk", [(CW.WINOGRAD_BLOCK_BYTES, CW.WINOGRAD_CHUNK_TILES),
                                          (1 << 15, 7),     # tile-row blocks, several chunks per block
                                          (1, 1)])          # one tile per block (pieces of a tile row)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:5])) + f"-p{''.join(map(str, s[5]))}")
def test_matches_direct_conv(monkeypatch, name, budget, chunk, shape):
    monkeypatch.setattr(CW, "WINOGRAD_BLOCK_BYTES", budget)
    monkeypatch.setattr(CW, "WINOGRAD_CHUNK_TILES", chunk)
    n, c, h, w, k, pads = shape
    case = conv_case(n, c, h, w, k, pads, seed=sum(shape[:5]))
    got = _run(case, name)
    ref = direct_conv(case.inputs[0], case.inputs[1], case.inputs[2], pads)
    tol = tolerances.TIERS[CW.TIERS[name]]
    assert tolerances.rel_err(got, ref) <= tol


@pytest.mark.parametrize("act", ["relu", "sigmoid", "hardswish"])
def test_fused_activation(act):
    from jitmnn.kernels.act import numpy_apply

    case = conv_case(2, 3, 7, 9, 13, (1, 1, 1, 1), act=act, seed=3)
    ref = numpy_apply(direct_conv(case.inputs[0], case.inputs[1], case.inputs[2], (1, 1, 1, 1)), act)
    for name in WINOGRAD:
        assert tolerances.rel_err(_run(case, name), ref) <= tolerances.TIERS[CW.TIERS[name]]


def test_blocks_cover_every_tile_once():
    for N, nty, ntx, per_tile, budget in [(3, 4, 5, 10, 10 ** 9), (3, 4, 5, 10, 450), (2, 4, 5, 10, 120),
                                          (2, 3, 7, 10, 25), (1, 1, 1, 10, 1)]:
        seen = np.zeros((N, nty, ntx), int)
        for b0, nb, ty0, ny, tx0, nx in CW.plan_blocks(N, nty, ntx, per_tile, budget):
            seen[b0:b0 + nb, ty0:ty0 + ny, tx0:tx0 + nx] += 1
            assert nb * ny * nx * per_tile <= max(budget, per_tile)
        assert (seen == 1).all()


# ---------------------------------------------------------------------------------------------------
# Registration: applicability, bytes, planner rules
def test_applies_only_to_3x3_stride1_dilation1_group1():
    base = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1)
    x = np.zeros((1, 4, 9, 9), np.float32)
    w3 = np.zeros((4, 4, 3, 3), np.float32)
    ok = Case("Conv", [x, w3], base, const_inputs=(1,))
    for name in WINOGRAD:
        alg = registry.algorithms("Conv")[name]
        assert alg.applies(make_ctx(ok))
        for change in ({"strides": [2, 2]}, {"dilations": [2, 2]}):
            assert not alg.applies(make_ctx(Case("Conv", [x, w3], {**base, **change}, const_inputs=(1,))))
        g2 = Case("Conv", [x, np.zeros((4, 2, 3, 3), np.float32)], {**base, "group": 2}, const_inputs=(1,))
        assert not alg.applies(make_ctx(g2))
        k5 = Case("Conv", [x, np.zeros((4, 4, 5, 5), np.float32)], {**base, "kernel_shape": [5, 5]},
                  const_inputs=(1,))
        assert not alg.applies(make_ctx(k5))
        runtime_w = Case("Conv", [x, w3], base, const_inputs=())
        assert not alg.applies(make_ctx(runtime_w))


@pytest.mark.parametrize("name,ratio", [("winograd_f23", 16 / 9), ("winograd_f43", 4.0), ("winograd_f63", 64 / 9)])
def test_weight_bytes_are_alpha_squared_over_nine(name, ratio):
    case = conv_case(1, 13, 7, 9, 17, (1, 1, 1, 1), bias=True)
    ctx = make_ctx(case)
    alg = registry.algorithms("Conv")[name]
    w_bytes = case.inputs[1].nbytes
    assert alg.weight_bytes(ctx) == pytest.approx(ratio * w_bytes + 4 * 17)
    U, b = alg.pack(ctx)
    assert U.nbytes + b.nbytes == alg.weight_bytes(ctx)
    assert alg.big_buffers


def _cheap(cands, names):
    """Candidates where `names` cost nothing, so only the planner's filters can stop them."""
    out = dict(cands)
    for n in names:
        out[n] = dataclasses.replace(cands[n], cost=lambda ctx: 0.0)
    return out


def test_memory_low_never_selects_winograd():
    case = conv_case(1, 64, 56, 56, 64, (1, 1, 1, 1))
    cands = _cheap(registry.algorithms("Conv"), WINOGRAD)
    normal, _, _ = planner.choose(make_ctx(case), SessionConfig(), cands)
    assert normal.name in WINOGRAD
    cfg = SessionConfig(memory="low")
    alg, reason, considered = planner.choose(make_ctx(case, cfg), cfg, cands)
    assert alg.name not in WINOGRAD and not any(a.name in WINOGRAD for _, a in considered)
    assert all(f"{n} (memory=low" in reason for n in WINOGRAD)
    # and with the real cost model
    alg, _, _ = planner.choose(make_ctx(case, cfg), cfg, registry.algorithms("Conv"))
    assert alg.name not in WINOGRAD


def test_precision_high_never_selects_f63():
    case = conv_case(1, 64, 56, 56, 64, (1, 1, 1, 1))
    cands = _cheap(registry.algorithms("Conv"), ["winograd_f63"])
    normal, _, _ = planner.choose(make_ctx(case), SessionConfig(), cands)
    assert normal.name == "winograd_f63"
    cfg = SessionConfig(precision="high")
    alg, reason, considered = planner.choose(make_ctx(case, cfg), cfg, cands)
    assert alg.name != "winograd_f63" and "winograd_f63 (precision=high)" in reason
    assert any(a.name == "winograd_f43" for _, a in considered)  # F(4,3) stays allowed
