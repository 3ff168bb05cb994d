#!/usr/bin/env bash
# The answer path against vLLM on the CPU: set vLLM up (registry needed once), then `pytest -m vllm`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
bash scripts/vllm-cpu --setup-only --data ./data
exec .venv/bin/python -m pytest -m vllm "$@"
