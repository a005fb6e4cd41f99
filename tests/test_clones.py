"""Clones, threads and the memory lifecycle, as behaviour (counters and RSS), never as timings."""

from __future__ import annotations

import gc
import threading

import numpy as np
import psutil
import pytest

import jitmnn
from jitmnn.models import prepare_model, sample_input

MB = 1 << 20


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """tiny_cnn with free spatial dims, so shape changes can be exercised."""
    from jitmnn.converter.export import save_onnx
    from jitmnn.models import zoo

    d = tmp_path_factory.mktemp("clones")
    save_onnx(zoo.tiny_cnn(input_shape=(None, 3, None, None)), str(d / "tiny.onnx"))
    jitmnn.convert(str(d / "tiny.onnx"), str(d / "tiny.jmnn"))
    return str(d / "tiny.jmnn")


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    _, path = prepare_model("resnet18", str(tmp_path_factory.mktemp("clones_r18")))
    return path


def _rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def test_clones_in_threads_match_a_single_threaded_run(tiny):
    m = jitmnn.load(tiny)
    xs = [sample_input("tiny_cnn", seed=s) for s in range(8)]
    want = [m.run({m.input_names[0]: x}) for x in xs]
    with jitmnn.ClonePool(m, workers=2) as pool:
        got = pool.map([{m.input_names[0]: x} for x in xs])
        assert len({id(c._arena) for c in pool.clones}) == 2
    for g, w in zip(got, want):
        for k in w:
            np.testing.assert_array_equal(g[k], w[k])


def test_raw_threads_each_with_a_clone(tiny):
    m = jitmnn.load(tiny)
    x = sample_input("tiny_cnn", seed=3)
    want = m.run({m.input_names[0]: x})
    results = {}

    def work(i):
        with m.clone() as c:
            for _ in range(20):
                results[i] = c.run({c.input_names[0]: x})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results.values():
        for k in want:
            np.testing.assert_array_equal(r[k], want[k])


@pytest.mark.slow
def test_second_clone_costs_its_arena_not_the_weights_and_close_returns_it(resnet):
    x = sample_input("resnet18")
    m = jitmnn.load(resnet, memory="normal", overrides={"Conv": "im2col"})
    name = m.input_names[0]
    m.run({name: x})
    m.run({name: x})
    before = _rss()
    c = m.clone()
    c.run({name: x})
    arena = c.memory_info()["arena_capacity_bytes"]
    added = _rss() - before
    assert arena > 2 * MB
    assert added <= arena + 5 * MB, f"clone added {added / MB:.1f} MB for a {arena / MB:.1f} MB arena"
    assert c._model is m._model  # no weight copy: the packed weights are the same objects
    with_clone = _rss()
    c.close()
    freed = with_clone - _rss()
    assert freed >= 0.9 * arena, f"close() freed {freed / MB:.1f} MB of a {arena / MB:.1f} MB arena"


@pytest.mark.slow
def test_ten_thousand_runs_of_varying_shapes_keep_rss_flat(tiny):
    m = jitmnn.load(tiny)
    name = m.input_names[0]
    shapes = [(1, 3, 19 + (i % 7), 21 + (i % 5) * 2) for i in range(12)]  # more shapes than the plan cache
    xs = [np.random.default_rng(i).standard_normal(s).astype(np.float32) for i, s in enumerate(shapes)]
    for x in xs * 3:  # warm-up: every shape planned and compiled
        m.run({name: x})
    start = _rss()
    peak = start
    for i in range(10_000):
        m.run({name: xs[i % len(xs)]})
        if i % 500 == 0:
            peak = max(peak, _rss())
    end = _rss()
    assert max(peak, end) - start <= 5 * MB, f"RSS grew {(max(peak, end) - start) / MB:.1f} MB"


def test_closed_module_raises(tiny):
    m = jitmnn.load(tiny)
    c = m.clone()
    c.close()
    with pytest.raises(jitmnn.ClosedError):
        c.run({c.input_names[0]: sample_input("tiny_cnn")})
    with pytest.raises(jitmnn.ClosedError):
        c.clone()
