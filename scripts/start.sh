#!/usr/bin/env bash
# The README's first command: set up .venv (first run only) and start everything with embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/askdocs up "$@"
