"""Memory and precision settings really change algorithms and footprint (issue: memory modes), and
every memory mode works with every stored weight format (issue: compressed weights)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import jitmnn
from jitmnn.models import prepare_model, sample_input
from tests import tolerances
from tests.harness import file_rss_bytes

SHAPE = {"input": (1, 3, 224, 224)}
STORAGE = {"fp32": {}, "fp16": {"fp16": True}, "bf16": {"bf16": True}, "int8": {"weight_quant_bits": 8},
           "int8-asym-b32": {"weight_quant_bits": 8, "block_size": 32, "asymmetric": True},
           "int4-b32": {"weight_quant_bits": 4, "block_size": 32}}
# Error of the compressed model vs the fp32 model, relative to the output scale; the tiers' reasons are
# in tests/tolerances.py (int4 is coarse: 16 levels per block; its error is reported, not hidden).
STORAGE_TOL = {"fp32": tolerances.F32, "fp16": tolerances.FP16, "bf16": 2e-2, "int8": 5e-2,
               "int8-asym-b32": 5e-2, "int4-b32": 0.5}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("modes"))


def _plan(path, shape=None, **settings):
    m = jitmnn.load(path, **settings)
    return m, m.explain(shape or SHAPE)


def _copying_winograd(explanation) -> list:
    """Winograd layers that keep a transformed weight copy (the lean variants transform per run instead)."""
    return [x for x in explanation.layers
            if x["algorithm"].startswith("winograd") and not x["algorithm"].endswith("_lean")]


def test_low_memory_has_no_winograd_copy_and_needs_less(workdir):
    """memory=low refuses transformed weight copies; it may run the lean Winograd (weights transformed per run,
    bounded scratch), which keeps nothing but the bias."""
    _, path = prepare_model("resnet18", workdir)
    _, low = _plan(path, memory="low")
    m_normal, normal = _plan(path, memory="normal")
    assert not _copying_winograd(low)
    lean = [x for x in low.layers if x["algorithm"].endswith("_lean")]
    assert lean, "the cost model should pick the lean Winograd somewhere in ResNet-18 at 224x224 under memory=low"
    wino = _copying_winograd(normal)
    assert wino, "the cost model should pick Winograd somewhere in ResNet-18 at 224x224"
    low_extra = sum(layer["extra_bytes"] for layer in low.layers)
    normal_extra = sum(layer["extra_bytes"] for layer in normal.layers)
    transformed = sum(layer["extra_bytes"] for layer in wino)
    assert normal_extra - low_extra >= 0.5 * transformed
    assert "refused winograd" in str(low)


def test_precision_high_excludes_f63(workdir):
    _, path = prepare_model("resnet18", workdir)
    _, high = _plan(path, precision="high")
    assert high.count("winograd_f63") == 0


def test_memory_budget_picks_leaner_plans_or_fails_clearly(workdir):
    _, path = prepare_model("resnet18", workdir)
    m, normal = _plan(path)
    full = sum(s.weight_bytes for s in normal.plan.steps) + max(s.scratch_bytes for s in normal.plan.steps)
    budget_mb = full / 2 / 1e6
    _, fitted = _plan(path, memory_budget_mb=budget_mb)
    used = sum(s.weight_bytes for s in fitted.plan.steps) + max(s.scratch_bytes for s in fitted.plan.steps)
    assert used <= budget_mb * 1e6
    assert len(_copying_winograd(fitted)) < len(_copying_winograd(normal))
    with pytest.raises(jitmnn.PlanError, match="memory_budget_mb"):
        jitmnn.load(path, memory_budget_mb=0.01).explain(SHAPE)


def test_overrides_by_layer_name_and_op_type(workdir):
    _, path = prepare_model("resnet18", workdir)
    _, by_op = _plan(path, overrides={"Conv": "im2col"})
    assert all(layer["algorithm"] == "im2col" for layer in by_op.layers if layer["op"] == "Conv")
    first_conv = next(layer["name"] for layer in by_op.layers if layer["op"] == "Conv")
    _, by_name = _plan(path, overrides={first_conv: "reference"})
    assert by_name.layers[0]["algorithm"] == "reference"
    assert by_name.layers[0]["reason"] == "forced by override"


def test_a_setting_without_effect_says_so():
    from jitmnn.graph import Graph, Node, TensorInfo

    g = Graph("relus", [Node("r", "Relu", ["x"], ["y"])], [TensorInfo("x", (1, 4))], ["y"], {})
    text = str(jitmnn.from_graph(g, memory="low").explain({"x": (1, 4)}))
    assert "memory=low changed no algorithm choice" in text


@pytest.mark.parametrize("storage", list(STORAGE))
@pytest.mark.parametrize("memory", ["low", "normal", "high"])
def test_every_memory_mode_runs_every_stored_dtype(workdir, storage, memory):
    # MobileNetV2 has every weighted layer kind: 3x3 stem (im2col), depthwise, 1x1, and the fc Gemm.
    _, ref_path = prepare_model("mobilenet_v2", workdir)
    _, path = prepare_model("mobilenet_v2", workdir, **STORAGE[storage])
    x = sample_input("mobilenet_v2")
    ref = jitmnn.load(ref_path).run({"input": x})["output"]
    m = jitmnn.load(path, memory=memory)
    got = m.run({"input": x})["output"]
    assert tolerances.rel_err(got, ref) <= STORAGE_TOL[storage]
    algs = [layer["algorithm"] for layer in m.explain().layers]
    if storage == "fp32":
        assert not any(a.startswith("hybrid") for a in algs), "hybrid only when weights are really compressed"
    elif memory == "low":
        assert any(a.startswith("hybrid") for a in algs)
        # biases and copies of layers too small to compress; never the float weights of a compressed layer
        assert m.memory_info()["weights_expanded_bytes"] < 0.05 * jitmnn.load(ref_path)._model.graph.weight_bytes()


def test_fp16_model_in_low_memory_runs__mnn_2741_acquire_buffer_size_0(workdir):
    """MNN 2.8.0 routed an fp16-stored model in low memory to its int8 kernel because 'quant info is
    present', and failed with 'Acquire buffer size = 0'. Here the hybrid path keys on the stored form."""
    _, ref_path = prepare_model("resnet18", workdir)
    _, path = prepare_model("resnet18", workdir, fp16=True)
    x = sample_input("resnet18")
    ref = jitmnn.load(ref_path).run({"input": x})["output"]
    m = jitmnn.load(path, memory="low")
    got = m.run({"input": x})["output"]
    assert tolerances.rel_err(got, ref) <= tolerances.FP16
    from jitmnn.config import LOW_MEMORY_WEIGHT_SLACK_BYTES

    fp16_convs = [s for s in m.explain().plan.steps if s.node.op == "Conv" and "fp16" in
                  str(getattr(s.params[0].consts[1], "storage", ""))]
    big = [s for s in fp16_convs if 2 * s.params[0].consts[1].nbytes > LOW_MEMORY_WEIGHT_SLACK_BYTES]
    # dequantised on the fly: a hybrid algorithm, or the lean Winograd expanding one block of rows per run
    assert big and all(s.algorithm.startswith("hybrid") or s.algorithm.endswith("_lean") for s in big)
    assert all(s.scratch_bytes > 0 for s in m.explain().plan.steps
               if s.algorithm.startswith("hybrid") or s.algorithm.endswith("_lean"))


def test_precision_low_halves_weight_memory(workdir):
    _, path = prepare_model("resnet18", workdir)
    m = jitmnn.load(path, precision="low")
    x = sample_input("resnet18")
    got = m.run({"input": x})["output"]
    ref = jitmnn.load(path).run({"input": x})["output"]
    assert tolerances.rel_err(got, ref) <= tolerances.precision_low_model()
    g = m._model.graph
    assert g.weight_bytes() < 0.55 * jitmnn.load(path)._model.graph.weight_bytes()
    assert m.memory_info()["weights_expanded_bytes"] < 1 << 20


def _storage_by_tensor(m, shapes) -> dict:
    plan = m.explain(shapes).plan
    return {name: ("fp16" if t.storage is not None else str(t.dtype)) for name, t in plan.tensors.items()
            if t.kind == "arena"}


def _assert_fp16_only_where_declared(plan) -> None:
    """Every step touching an fp16 tensor runs an algorithm that declared it can (checked from outside)."""
    from jitmnn.ops import registry

    for s in plan.steps:
        touched = [n for n in list(s.inputs) + list(s.outputs) if n and plan.tensors[n].storage is not None]
        if touched and not s.skipped:
            assert registry.algorithms(s.node.op)[s.algorithm].fp16, (s.node.name, s.algorithm)


def test_precision_low_stores_activations_fp16_and_halves_the_arena(workdir):
    """precision=low holds activations as fp16 between kernels that read and write it (DESIGN section 4).
    MobileNetV2 (every layer kind); outputs stay float32 and close to fp32."""
    _, path = prepare_model("mobilenet_v2", workdir)
    x = sample_input("mobilenet_v2")
    # measured 0.50 (memory low) and 0.66 (memory normal, whose larger im2col tiles are fp32 scratch)
    for memory, ratio in (("low", 0.6), ("normal", 0.75)):
        arena_fp32 = jitmnn.load(path, memory=memory).explain(SHAPE).plan.arena_bytes
        assert jitmnn.load(path, precision="low", memory=memory).explain(SHAPE).plan.arena_bytes < ratio * arena_fp32
    ref = jitmnn.load(path).run({"input": x})["output"]
    m = jitmnn.load(path, precision="low", memory="normal")
    got = m.run({"input": x})["output"]
    assert got.dtype == np.float32
    assert tolerances.rel_err(got, ref) <= tolerances.precision_low_model()
    plan = m.explain().plan
    assert m.explain().plan.tensors["output"].storage is None
    half = [t for t in plan.tensors.values() if t.storage is not None]
    assert len(half) > 50
    _assert_fp16_only_where_declared(plan)
    # a memory budget downgrades algorithms; it must keep ones that handle the fp16 tensors they touch
    need_mb = (sum(s.weight_bytes for s in plan.steps) + max(s.scratch_bytes for s in plan.steps)) / 1e6
    # the default plan needs 3.2 MB (fp32 compute) or 2.95 MB (bf16 compute): 0.1 MB less forces downgrades
    budget = jitmnn.load(path, precision="low", memory_budget_mb=need_mb - 0.1).explain(SHAPE).plan
    assert any(s.reason.startswith("memory budget") for s in budget.steps)
    _assert_fp16_only_where_declared(budget)
    assert any(layer["activation_storage"] == "fp16" for layer in m.explain().layers)
    before = m.memory_info()["arena_allocations"]
    again = m.run({"input": x})["output"]
    assert m.memory_info()["arena_allocations"] == before and np.array_equal(again, got)


def test_fp16_activations_stop_at_kernels_without_fp16_and_at_graph_edges():
    """Exp keeps fp32 (fp16 overflows at 65504), so its input and output stay fp32; a view shares its
    source's storage; graph inputs and outputs are always float32."""
    from jitmnn.graph import Graph, Node, TensorInfo

    nodes = [Node("r1", "Relu", ["x"], ["a"]), Node("r2", "Relu", ["a"], ["b"]),
             Node("flat", "Reshape", ["b", "shape"], ["c"]), Node("r3", "Relu", ["c"], ["d"]),
             Node("e", "Exp", ["d"], ["f"]), Node("r4", "Relu", ["f"], ["y"])]
    g = Graph("chain", nodes, [TensorInfo("x", (2, 3, 4))], ["y"], {"shape": np.array([2, 12], np.int64)})
    m = jitmnn.from_graph(g, precision="low")
    storage = _storage_by_tensor(m, {"x": (2, 3, 4)})
    assert storage["a"] == storage["b"] == storage["c"] == "fp16"
    assert storage["d"] == storage["f"] == "float32"
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    y = m.run({"x": x})["y"]
    assert y.dtype == np.float32
    expect = np.exp(np.maximum(x.astype(np.float16).astype(np.float32), 0)).reshape(2, 12)
    assert tolerances.rel_err(y, expect) <= tolerances.FP16_ACTIVATIONS


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc/self/smaps")
def test_precision_low_drops_the_fp32_file_pages_it_copied(workdir):
    """precision=low makes fp16 copies of an fp32 file's weights; the file pages it read to do so are then
    dropped from RSS (measured before the fix: ResNet-18 at precision=low added 55 MB, more than fp32's 51)."""
    _, path = prepare_model("resnet18", workdir)
    size = os.path.getsize(path)
    m32 = jitmnn.load(path)
    m32.run({"input": sample_input("resnet18")})
    assert file_rss_bytes(path) > 0.5 * size  # the check can see a resident mapping
    del m32
    import gc

    gc.collect()
    m = jitmnn.load(path, precision="low")
    m.run({"input": sample_input("resnet18")})
    assert file_rss_bytes(path) < 0.1 * size


def test_fp16_overflow_under_precision_low_is_a_typed_error_not_silent_inf():
    """An activation beyond fp16's 65504 becomes inf when stored fp16; run() says so instead of returning it."""
    from jitmnn.graph import Graph, Node, TensorInfo

    nodes = [Node("up", "Mul", ["x", "big"], ["a"]), Node("r", "Relu", ["a"], ["b"]),
             Node("down", "Mul", ["b", "small"], ["y"])]
    g = Graph("overflow", nodes, [TensorInfo("x", (1, 8))], ["y"],
              {"big": np.array([1000.0], np.float32), "small": np.array([1e-3], np.float32)})
    x = np.full((1, 8), 100.0, np.float32)
    np.testing.assert_allclose(jitmnn.from_graph(g).run({"x": x})["y"], x, rtol=1e-6)
    low = jitmnn.from_graph(g, precision="low")
    assert _storage_by_tensor(low, {"x": (1, 8)})["a"] == "fp16"
    with pytest.raises(jitmnn.PrecisionError, match="65504"):
        low.run({"x": x})
    np.testing.assert_allclose(low.run({"x": x / 1000})["y"], x / 1000, rtol=1e-3)  # in range: fine


def test_without_f16c_precision_low_keeps_activations_fp32(monkeypatch):
    """On an x86 CPU without F16C, LLVM would call a half-conversion routine Numba cannot link: the planner
    keeps activations fp32 there and says why (weights are still held fp16)."""
    from jitmnn.graph import Graph, Node, TensorInfo
    from jitmnn.kernels import half

    monkeypatch.setattr(half, "host_converts_fp16", lambda: False)
    g = Graph("relus", [Node("r1", "Relu", ["x"], ["a"]), Node("r2", "Relu", ["a"], ["y"])],
              [TensorInfo("x", (1, 4))], ["y"], {})
    m = jitmnn.from_graph(g, precision="low")
    assert _storage_by_tensor(m, {"x": (1, 4)})["a"] == "float32"
    assert any("no F16C" in n for n in m.explain().plan.notes)
