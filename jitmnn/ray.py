"""Scale-out on Ray Data: one jitmnn session per actor, batches of a Dataset through it.

    import ray, jitmnn.ray
    ds = ray.data.from_numpy([images[i:i + 64] for i in range(0, len(images), 64)])   # column "data"
    out = ds.map_batches(jitmnn.ray.JitmnnPredictor, fn_constructor_kwargs={"path": "model.jmnn", "memory": "low"},
                         compute=ray.data.ActorPoolStrategy(size=2), batch_size=32, num_cpus=1)
    # or, the same in one call:
    out = jitmnn.ray.map_batches(ds, "model.jmnn", actors=2, batch_size=32, memory="low")
    out.take_batch(4)["output"]

(`concurrency=2` instead of `compute=` also works, but Ray 2.5x deprecates it.) Each actor opens the .jmnn
file itself: nothing but the path and the settings travel to it, and every actor's weights are views into
one memory map of the file, so the page cache holds them once for all actors on a machine (an actor's PSS
counts its share of them; RSS counts them whole). Weights an algorithm repacks (memory="normal" may) are
per actor: memory="low" keeps them mapped. Give each actor num_threads equal to its num_cpus (default 1),
so actors do not oversubscribe the node's cores.

Ray is an optional dependency (`pip install 'jitmnn[ray]'`); this module imports it only in map_batches(),
and JitmnnPredictor itself needs nothing from Ray, so it can be tried in-process on a dict of arrays."""

from __future__ import annotations

import numpy as np

from .errors import InputError, ShapeError

RAY_EXTRA = "pip install 'jitmnn[ray]'"


class JitmnnPredictor:
    """A callable class for `ray.data.Dataset.map_batches`: constructed once per actor, called per batch.

    path: a .jmnn file every actor can read (convert an .onnx first with jitmnn.convert).
    input_name: the batch column fed to the model's input; for a model with several inputs, a dict
        {model input: column}. Default: the column named like each model input, or for a one-input model
        the batch's only column (ray.data.from_numpy names it "data").
    output_names: model outputs to return, as columns of those names (default: every output).
    keep_columns: batch columns to pass through unchanged (ids, file names), so results stay attached to them.
    **settings: jitmnn.load settings (precision, memory, num_threads, memory_budget_mb, overrides, ...).

    A batch goes through the model whole when the model's batch dim is symbolic; when the model declares a
    fixed batch size B, it is run in chunks of B rows, the last chunk padded by repeating its last row (the
    padding's outputs are dropped). A column whose dtype differs in size but not kind from the model input's
    (float64 data for a float32 model) is cast; any other mismatch is an InputError. Every output must have
    one row per input row (Ray's columns must have equal lengths)."""

    def __init__(self, path: str, input_name: str | dict | None = None, output_names: list | None = None,
                 keep_columns: tuple | list = (), **settings):
        import jitmnn

        self.module = jitmnn.load(path, **settings)
        self.input_name = input_name
        unknown = sorted(set(output_names or ()) - set(self.module.output_names))
        if unknown:
            raise InputError(f"output_names {unknown} are not outputs of {path}; it has {self.module.output_names}")
        self.output_names = list(output_names or self.module.output_names)
        self.keep_columns = list(keep_columns)
        self.fixed_batch = _fixed_batch(self.module.input_specs)

    def __call__(self, batch: dict) -> dict:
        columns = self._columns(batch)
        inputs = {name: self._as_input(name, np.asarray(batch[col])) for name, col in columns.items()}
        rows = {len(a) for a in inputs.values()}
        if len(rows) != 1:
            raise InputError(f"input columns {list(columns.values())} have different numbers of rows: {sorted(rows)}")
        n = rows.pop()
        chunk = self.fixed_batch or n
        parts: dict = {name: [] for name in self.output_names}
        for start in range(0, n, max(chunk, 1)):
            take = min(chunk, n - start)
            feed = {name: _pad_rows(a[start:start + take], chunk) for name, a in inputs.items()}
            result = self.module.run(feed)
            for name in self.output_names:
                out = result[name]
                if out.ndim == 0 or len(out) != chunk:
                    raise ShapeError(f"output {name!r} has shape {out.shape} for a chunk of {chunk} rows: map_batches "
                                     f"needs one output row per input row (choose outputs with output_names)")
                parts[name].append(out[:take])
        out = {name: np.concatenate(p) if p else np.empty((0,)) for name, p in parts.items()}
        for col in self.keep_columns:
            if col in out:
                raise InputError(f"keep_columns {col!r} has the name of a model output")
            out[col] = batch[col]
        return out

    def _columns(self, batch: dict) -> dict:
        """{model input: batch column}."""
        names = self.module.input_names
        if isinstance(self.input_name, dict):
            columns = dict(self.input_name)
        elif isinstance(self.input_name, str):
            if len(names) != 1:
                raise InputError(f"the model has inputs {names}: pass input_name as a dict {{model input: column}}")
            columns = {names[0]: self.input_name}
        elif all(n in batch for n in names):
            columns = {n: n for n in names}
        elif len(names) == 1 and len(set(batch) - set(self.keep_columns)) == 1:
            columns = {names[0]: next(c for c in batch if c not in self.keep_columns)}
        else:
            raise InputError(f"cannot tell which batch columns {sorted(batch)} feed the model's inputs {names}: "
                             f"pass input_name")
        missing = sorted(set(names) - set(columns))
        absent = sorted(c for c in columns.values() if c not in batch)
        if missing or absent:
            raise InputError(f"input_name leaves model inputs {missing} unfed or names absent columns {absent}; "
                             f"the batch has {sorted(batch)}")
        return columns

    def _as_input(self, name: str, a: np.ndarray) -> np.ndarray:
        want = np.dtype(self.module.input_specs[name][1])
        if a.dtype == want:
            return a
        if a.dtype.kind == want.kind or (a.dtype.kind in "iu" and want.kind in "iu"):
            return a.astype(want)
        raise InputError(f"column for input {name!r} is {a.dtype}, the model wants {want}")


def _fixed_batch(input_specs: dict) -> int | None:
    """The batch size every input declares as its fixed first dim, or None when it is symbolic."""
    firsts = {shape[0] if shape and isinstance(shape[0], int) and shape[0] > 0 else None
              for shape, _ in input_specs.values()}
    return firsts.pop() if len(firsts) == 1 else None


def _pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    if len(a) == rows:
        return a
    return np.concatenate([a, np.repeat(a[-1:], rows - len(a), axis=0)])


def map_batches(ds, path: str, actors: int = 2, batch_size: int = 32, num_cpus: float = 1, **predictor_kwargs):
    """`ds.map_batches(JitmnnPredictor, ...)` on a fixed pool of `actors` actors, each reserving num_cpus CPUs
    (num_threads defaults to that, rounded down, so the actors' threads fit the cores Ray gives them)."""
    ray_data = _import_ray_data()
    predictor_kwargs.setdefault("num_threads", max(1, int(num_cpus)))
    return ds.map_batches(JitmnnPredictor, fn_constructor_kwargs={"path": path, **predictor_kwargs},
                          compute=ray_data.ActorPoolStrategy(size=actors), batch_size=batch_size,
                          batch_format="numpy", num_cpus=num_cpus)


def _import_ray_data():
    try:
        import ray.data
    except ImportError as e:
        raise ImportError(f"jitmnn.ray needs Ray Data, which is not installed: {RAY_EXTRA}") from e
    return ray.data
