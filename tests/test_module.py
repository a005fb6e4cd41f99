"""The Module API as behaviour: arena counters per memory mode, input validation, clones."""

import os

import numpy as np
import pytest

import jitmnn
from jitmnn.errors import ClosedError, InputError, PlanError
from jitmnn.graph import Graph, Node, TensorInfo
from tests.harness import os_resident_bytes


def _chain(n=4):
    nodes = [Node(f"r{i}", "Relu", ["x" if i == 0 else f"t{i}"], [f"t{i + 1}"]) for i in range(n)]
    return Graph("chain", nodes, [TensorInfo("x", (None, 3, None, None))], [f"t{n}"], {})


def _x(h=16, w=16, seed=0):
    return np.random.default_rng(seed).standard_normal((1, 3, h, w)).astype(np.float32)


@pytest.mark.parametrize("memory", ["low", "normal", "high"])
def test_outputs_identical_across_memory_modes(memory):
    m = jitmnn.from_graph(_chain(), memory=memory)
    x = _x()
    np.testing.assert_array_equal(m.run({"x": x})["t4"], np.maximum(x, 0))


@pytest.mark.parametrize("memory", ["normal", "high"])
def test_second_run_of_same_shape_allocates_nothing(memory):
    m = jitmnn.from_graph(_chain(), memory=memory)
    m.run({"x": _x()})
    before = m.memory_info()
    for seed in range(3):
        m.run({"x": _x(seed=seed)})
    after = m.memory_info()
    assert after["arena_allocations"] == before["arena_allocations"]
    assert after["arena_bytes_allocated"] == before["arena_bytes_allocated"]


def test_plan_is_smaller_than_naive_sum():
    m = jitmnn.from_graph(_chain(6))
    m.run({"x": _x()})
    info = m.memory_info()
    assert info["arena_planned_bytes"] < info["arena_naive_bytes"]


def test_smaller_input_shrinks_normal_but_never_high():
    for memory, shrinks in (("normal", True), ("high", False)):
        m = jitmnn.from_graph(_chain(), memory=memory)
        m.run({"x": _x(64, 64)})
        big = m.memory_info()["arena_capacity_bytes"]
        m.run({"x": _x(8, 8)})
        small = m.memory_info()["arena_capacity_bytes"]
        assert (small < big) == shrinks, memory
        m.run({"x": _x(64, 64)})
        assert m.memory_info()["arena_capacity_bytes"] == big


def test_low_memory_releases_after_every_run():
    m = jitmnn.from_graph(_chain(), memory="low")
    m.run({"x": _x()})
    info = m.memory_info()
    assert info["arena_capacity_bytes"] == 0
    assert info["arena_planned_bytes"] > 0
    assert info["arena_high_water_bytes"] >= info["arena_planned_bytes"]
    if os.path.exists("/proc/self/pagemap"):  # and the OS agrees, although the module keeps its views bound
        assert os_resident_bytes(m._arena.buffer) == 0
    allocs = info["arena_allocations"]
    m.run({"x": _x()})
    assert m.memory_info()["arena_allocations"] == allocs  # the address range is kept: pages fault back in


def test_input_errors_are_typed_and_named():
    m = jitmnn.from_graph(_chain())
    with pytest.raises(InputError, match="missing"):
        m.run({"y": _x()})
    with pytest.raises(InputError, match="float32"):
        m.run({"x": _x().astype(np.float64)})
    with pytest.raises(InputError, match="rank"):
        m.run({"x": _x()[0]})
    with pytest.raises(InputError, match="dimension 1"):
        m.run({"x": np.zeros((1, 4, 8, 8), np.float32)})
    bad = _x()
    bad[0, 0, 0, 0] = np.nan
    assert any(np.isnan(v).any() for v in m.run({"x": bad}).values())  # non-finite inputs pass through by default, as in ORT
    m = jitmnn.from_graph(m._model.graph, check_finite=True)  # the opt-in refusal
    with pytest.raises(InputError, match="NaN"):
        m.run({"x": bad})
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(InputError, match="inf"):
        m.run({"x": bad})
    with pytest.raises(InputError):
        m.run([_x()])


def test_bad_settings_fail_loudly():
    with pytest.raises(ValueError, match="memory"):
        jitmnn.from_graph(_chain(), memory="LOW")
    with pytest.raises(ValueError, match="precision"):
        jitmnn.from_graph(_chain(), precision=2)
    with pytest.raises(PlanError, match="override"):
        jitmnn.from_graph(_chain(), overrides={"Relu": "nope"}).run({"x": _x()})


def test_clone_shares_model_owns_arena_and_close_returns_it():
    m = jitmnn.from_graph(_chain())
    c = m.clone()
    x = _x()
    np.testing.assert_array_equal(m.run({"x": x})["t4"], c.run({"x": x})["t4"])
    assert c._model is m._model
    assert c._arena is not m._arena
    assert c.memory_info()["arena_capacity_bytes"] > 0
    c.close()
    assert c.memory_info()["arena_capacity_bytes"] == 0
    with pytest.raises(ClosedError):
        c.run({"x": x})
    m.run({"x": x})  # the original is unaffected
    with m.clone() as c2:
        c2.run({"x": x})
    assert c2.closed


def test_explain_names_every_layer_and_its_algorithm():
    m = jitmnn.from_graph(_chain())
    text = str(m.explain({"x": (1, 3, 8, 8)}))
    for i in range(4):
        assert f"r{i}" in text
    assert "numba" in text
    e = m.explain({"x": (1, 3, 8, 8)})
    assert len(e.layers) == 4 and all(layer["reason"] for layer in e.layers)


def _conv_model():
    rng = np.random.default_rng(7)
    nodes = [Node("c1", "Conv", ["x", "w1", "b1"], ["a"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
             Node("r1", "Relu", ["a"], ["b"]),
             Node("c2", "Conv", ["b", "w2"], ["y"], {"kernel_shape": [1, 1]})]
    consts = {"w1": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
              "b1": rng.standard_normal(8).astype(np.float32),
              "w2": rng.standard_normal((4, 8, 1, 1)).astype(np.float32)}
    return Graph("convs", nodes, [TensorInfo("x", (1, 3, None, None))], ["y"], consts)


@pytest.mark.parametrize("memory", ["low", "normal"])
def test_one_module_shared_by_threads_gives_the_single_thread_results(memory):
    """Concurrent run() calls on one Module (no clones) are correct: each thread runs on an arena of its own.
    Before, two threads wrote into the same arena and 40 of 40 runs came back wrong, silently."""
    import threading

    m = jitmnn.from_graph(_conv_model(), memory=memory)
    inputs = [_x(h=12 + (i % 3), w=12, seed=i) for i in range(24)]
    want = [m.run({"x": x})["y"] for x in inputs]
    got: dict = {}
    errors = []

    def worker(k):
        try:
            for rep in range(3):
                for i in range(k, len(inputs), 2):
                    got[(i, rep)] = m.run({"x": inputs[i]})["y"]
        except Exception as e:  # surfaced below, with the thread's failure
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 3 * len(inputs)
    for (i, _), y in got.items():
        np.testing.assert_array_equal(y, want[i])
    m.close()
    assert all(root.current is None for root in m._thread_roots)
