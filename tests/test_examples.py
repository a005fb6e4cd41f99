"""Execute every examples/*.ipynb top to bottom with nbclient; a failing cell fails the test with that
cell's source and traceback.

Notebooks are committed without outputs and re-executed here (CI). Each runs in a fresh `python3` kernel
whose working directory is a pytest temporary directory (the notebooks keep their model files in their
own tempfile directories). The kernel must be this interpreter's environment: scripts/setup.sh installs the
venv's `python3` kernelspec (argv "python", which jupyter_client replaces with sys.executable); if another
`python3` kernelspec shadows it (a user-level one pointing at a different Python), we run the notebooks
with a kernelspec written for sys.executable instead, and every run checks the kernel's sys.prefix."""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys

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


def test_examples_exist():
    assert EXAMPLES, f"no notebooks in {ROOT / 'examples'}"


def test_examples_committed_without_outputs():
    """Outputs are not committed (small repo, clean diffs); CI re-executes the notebooks."""
    for path in EXAMPLES:
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
        assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_CHECK_PREFIX))
    client = nbclient.NotebookClient(
        nb,
        km=kernel_manager(tmp_path),
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    failure = None
    try:
        client.execute(cleanup_kc=True)  # we own the kernel manager: shut the kernel down
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
