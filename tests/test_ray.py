"""jitmnn/ray.py: JitmnnPredictor in-process (batch splitting for fixed-batch models, column choice, casts,
typed errors), and on a local 2-CPU Ray cluster through Dataset.map_batches with 2 actors, where every row's
result must equal a single-process run of the same batches bit for bit (same settings, num_threads=1)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from tests.onnx_models import small_classifier  # noqa: E402

import jitmnn  # noqa: E402
from jitmnn import InputError  # noqa: E402
from jitmnn.ray import JitmnnPredictor  # noqa: E402

ROWS, ROWS_PER_BLOCK, BATCH = 320, 40, 20  # blocks are whole batches, so every batch is the same slice in both runs




def _jmnn(tmp_path_factory, batch_dim) -> str:
    d = tmp_path_factory.mktemp("ray")
    onnx.save(small_classifier(batch_dim, size=8), str(d / "m.onnx"))
    jitmnn.convert(str(d / "m.onnx"), str(d / "m.jmnn"))
    return str(d / "m.jmnn")


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory):
    return _jmnn(tmp_path_factory, "batch")


@pytest.fixture(scope="module")
def fixed_model(tmp_path_factory):
    return _jmnn(tmp_path_factory, 2)


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 8, 8)).astype(np.float32)


# ----- in-process -------------------------------------------------------------------------------------------
def test_symbolic_batch_runs_whole_and_keeps_columns(dynamic_model):
    x = images(7)
    p = JitmnnPredictor(dynamic_model, keep_columns=["id"])
    out = p({"data": x, "id": np.arange(7)})
    ref = jitmnn.load(dynamic_model).run({"x": x})["y"]
    assert set(out) == {"y", "id"} and np.array_equal(out["y"], ref) and np.array_equal(out["id"], np.arange(7))
    # float64 data for a float32 model is cast, as pandas-made columns are float64
    assert np.array_equal(p({"data": x.astype(np.float64), "id": np.arange(7)})["y"], ref)


def test_fixed_batch_is_split_and_padding_dropped(fixed_model):
    x = images(5)
    out = JitmnnPredictor(fixed_model)({"x": x})["y"]
    m = jitmnn.load(fixed_model)
    ref = np.concatenate([m.run({"x": x[0:2]})["y"], m.run({"x": x[2:4]})["y"],
                          m.run({"x": x[[4, 4]]})["y"][:1]])  # the last row padded by itself
    assert out.shape == (5, 10) and np.array_equal(out, ref)


def test_column_and_output_errors_are_typed(dynamic_model):
    p = JitmnnPredictor(dynamic_model)
    with pytest.raises(InputError, match="pass input_name"):
        p({"a": images(2), "b": images(2)})
    with pytest.raises(InputError, match="absent columns"):
        JitmnnPredictor(dynamic_model, input_name="pixels")({"data": images(2)})
    with pytest.raises(InputError, match="the model wants float32"):
        p({"data": np.zeros((2, 3, 8, 8), np.int32)})
    with pytest.raises(InputError, match="not outputs"):
        JitmnnPredictor(dynamic_model, output_names=["logits"])


def test_missing_ray_names_the_extra(monkeypatch):
    import jitmnn.ray

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ImportError, match=r"jitmnn\[ray\]"):
        jitmnn.ray.map_batches(None, "m.jmnn")


# ----- on a local Ray cluster ----------------------------------------------------------------------------------
class PredictorWithPid(JitmnnPredictor):
    """Adds the actor's pid to each row, to see that both actors took batches."""

    def __call__(self, batch):
        out = super().__call__(batch)
        out["pid"] = np.full(len(out["y"]), os.getpid())
        return out


@pytest.fixture(scope="module")
def ray_cluster():
    # Ray's single-machine mode (its default on macOS/Windows): every Ray process listens on 127.0.0.1 only,
    # not on the machine's network address. Read when ray is imported, so set first.
    before = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        import ray.data
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must run this test: scripts/setup.sh installs the ray extra (.[test,ray])")
        pytest.skip("Ray is not installed here: pip install -e '.[ray]' (CI installs it and runs this test)")
    from ray import cloudpickle

    # The actors must not need this test module on their path: send PredictorWithPid by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False,
             configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # results come back in input order, to compare row by row
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    if before is None:
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)


@pytest.mark.slow
def test_two_actors_equal_one_process(ray_cluster, dynamic_model):
    import ray.data

    import jitmnn.ray

    x = images(ROWS, seed=1)
    ds = ray.data.from_numpy([x[i:i + ROWS_PER_BLOCK] for i in range(0, ROWS, ROWS_PER_BLOCK)])
    out = ds.map_batches(PredictorWithPid, fn_constructor_kwargs={"path": dynamic_model, "num_threads": 1},
                         compute=ray.data.ActorPoolStrategy(size=2), batch_size=BATCH, num_cpus=1,
                         batch_format="numpy").take_batch(ROWS, batch_format="numpy")
    single = JitmnnPredictor(dynamic_model, num_threads=1)
    ref = np.concatenate([single({"data": x[i:i + BATCH]})["y"] for i in range(0, ROWS, BATCH)])
    assert out["y"].shape == ref.shape and np.array_equal(out["y"], ref)
    assert len(set(out["pid"].tolist())) == 2, "both actors should have taken batches"
    # the one-call helper: the same pool through jitmnn.ray.map_batches
    via_helper = jitmnn.ray.map_batches(ds, dynamic_model, actors=2, batch_size=BATCH).take_batch(ROWS)
    assert np.array_equal(via_helper["y"], ref)
