"""ruff's pyflakes rules (pyproject.toml [tool.ruff]) over every Python file of the project: an unused import,
an unused variable or an undefined name fails the suite, so CI catches them."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    pytest.importorskip("ruff")
    dirs = [str(ROOT / d) for d in ("jitmnn", "kernels", "models", "tests", "benchmarks")]
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", *dirs],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
