#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: kernel equivalence, memory behaviour, models
# vs ONNX Runtime, notebooks. Extra arguments go to pytest (e.g. -m "not slow" for the quick subset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -ra "$@"
