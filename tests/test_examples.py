"""Execute every examples/*.ipynb top to bottom with nbclient; a failing cell fails the test with that
cell's source and traceback.

The notebooks are committed with their outputs, so a reader sees the numbers and plots on GitHub. The test
executes a copy (the committed file is not touched) in a fresh `python3` kernel whose working directory is a
pytest temporary directory (the notebooks keep their model files in their own tempfile directories). After
editing a notebook, refresh its committed outputs with

    .venv/bin/python -m tests.test_examples [quickstart precision ...]     # no names: every notebook

which executes the same way and writes the outputs back (progress bars collapsed to their last state,
no per-cell timestamps, so a re-run changes only the numbers that really changed).

The kernel must be this interpreter's environment: scripts/setup.sh installs the venv's `python3`
kernelspec (argv "python", which jupyter_client replaces with sys.executable); if another `python3`
kernelspec shadows it (a user-level one pointing at a different Python), we run the notebooks with a
kernelspec written for sys.executable instead, and every test run checks the kernel's sys.prefix."""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys
import tempfile

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 600
# What the committed notebooks may weigh together (outputs included): PNG plots at modest dpi stay far below.
MAX_TOTAL_BYTES = 1_500_000
# tqdm.auto warns once in a kernel without ipywidgets (it falls back to a text bar); that note is about the
# machine that wrote the outputs, not something a reader needs to see.
KERNEL_ENV = {"PYTHONWARNINGS": "ignore:IProgress not found"}

_PY_NAMES = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}


def _spec_is_ours(spec) -> bool:
    """True if jupyter_client would launch this kernelspec with this interpreter."""
    exe = spec.argv[0] if spec.argv else ""
    if exe in _PY_NAMES:  # jupyter_client substitutes sys.executable for a bare "python"
        return True
    return os.path.abspath(exe) == os.path.abspath(sys.executable)


def kernel_manager(tmp_dir: pathlib.Path) -> AsyncKernelManager:
    """A KernelManager for KERNEL that launches this interpreter (see the module docstring)."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        if _spec_is_ours(spec):
            return AsyncKernelManager(kernel_name=KERNEL)
    except NoSuchKernel:
        pass
    kdir = tmp_dir / "kernels" / KERNEL
    kdir.mkdir(parents=True, exist_ok=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jitmnn tests)",
        "language": "python",
    }))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_dir / "kernels")])
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=ksm)


def _plain(err) -> str:
    """The cell's source and traceback without the kernel's ANSI colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(err))


_CHECK_PREFIX = "import sys as _jitmnn_sys; print(_jitmnn_sys.prefix); del _jitmnn_sys"


def execute(nb, workdir: pathlib.Path):
    """Run `nb` in place in a fresh kernel started in `workdir`; raises nbclient's CellExecutionError or
    CellTimeoutError on the first failing cell."""
    client = nbclient.NotebookClient(
        nb,
        km=kernel_manager(workdir),
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(workdir)}},
        coalesce_streams=True,  # one stdout and one stderr output per cell, a tqdm bar as its final state
        record_timing=False,
    )
    client.execute(cleanup_kc=True, env={**os.environ, **KERNEL_ENV})  # we own the kernel manager: shut it down


def test_examples_exist():
    assert EXAMPLES, f"no notebooks in {ROOT / 'examples'}"


def test_committed_outputs_are_complete_and_small():
    """Each notebook was executed top to bottom (execution counts 1, 2, ...) without an error output, its
    pictures are PNGs, and all of them together stay under MAX_TOTAL_BYTES."""
    total = 0
    for path in EXAMPLES:
        total += path.stat().st_size
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        counts = [c.get("execution_count") for c in code]
        assert counts == list(range(1, len(code) + 1)), (
            f"{path.name}: execution counts {counts}; refresh its outputs with `python -m tests.test_examples "
            f"{path.stem}`")
        for i, c in enumerate(code):
            for out in c.outputs:
                assert out.output_type != "error", f"{path.name}: code cell {i} has an error output"
                images = [k for k in out.get("data", {}) if k.startswith("image/")]
                assert set(images) <= {"image/png"}, f"{path.name}: code cell {i} has {images}; use PNG"
    assert total <= MAX_TOTAL_BYTES, f"the notebooks weigh {total / 1e6:.2f} MB together (> {MAX_TOTAL_BYTES / 1e6} MB)"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_CHECK_PREFIX))
    failure = None
    try:
        execute(nb, tmp_path)
    except nbclient.exceptions.CellTimeoutError as e:
        failure = f"{path.name}: a cell ran longer than {CELL_TIMEOUT_S} s\n{_plain(e)}"
    except nbclient.exceptions.CellExecutionError as e:
        failure = f"{path.name}: a cell failed\n{_plain(e)}"
    if failure:
        pytest.fail(failure, pytrace=False)
    outs = nb.cells[0].outputs
    kernel_prefix = "".join(o.get("text", "") for o in outs if o.get("name") == "stdout").strip()
    assert os.path.realpath(kernel_prefix) == os.path.realpath(sys.prefix), (
        f"the notebook kernel ran in {kernel_prefix!r}, not in this environment ({sys.prefix!r})")


def write_outputs(names: list) -> None:
    """Execute the named notebooks (all without names) and save them with their outputs."""
    import time

    paths = [p for p in EXAMPLES if not names or p.stem in names or p.name in names]
    unknown = sorted(set(names) - {p.stem for p in paths} - {p.name for p in paths})
    if unknown:
        raise SystemExit(f"no notebook {unknown} in {ROOT / 'examples'}")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="jitmnn-notebook-") as tmp:
            execute(nb, pathlib.Path(tmp))
        nbformat.write(nb, path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s, {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    write_outputs(sys.argv[1:])
