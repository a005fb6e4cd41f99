#!/usr/bin/env bash
# Create .venv (once) and install jitmnn with everything the tests, examples and benchmarks need
# (the ray extra too: tests/test_ray.py runs a local Ray cluster in CI).
# Real PP-OCR models come from the rapidocr-onnxruntime wheel, installed without its dependencies
# (we only need the ONNX files it ships; its opencv/shapely deps are not used).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,ray]"
.venv/bin/python -m pip install -q --no-deps "rapidocr-onnxruntime==1.4.4"
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
