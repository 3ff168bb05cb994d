#!/usr/bin/env bash
# The README's second command: install what the tests need, lint, build the docs, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
bash scripts/ensure_postgres.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # the layer contracts in pyproject.toml
# the documentation site: a broken link or anchor, or a page outside the nav, fails the build
site=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$site"
rm -rf "$site"
exec .venv/bin/python -m pytest "$@"
