#!/usr/bin/env bash
# Set up (scripts/setup.sh), then the main job: convert a zoo model, run it under each memory and
# precision mode, print latency, memory and the chosen algorithms. Arguments go to `python -m jitmnn.demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m jitmnn.demo "$@"
