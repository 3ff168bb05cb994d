"""docs/api.md is what scripts/openapi_page.py makes from the app's OpenAPI schema now, and it
names every route of the app."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "openapi_page", ROOT / "scripts" / "openapi_page.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_is_up_to_date():
    page = _script()
    spec = page.schema()
    text = (ROOT / "docs" / "api.md").read_text()
    assert text == page.page(spec), "run .venv/bin/python scripts/openapi_page.py --write"
    for path, item in spec["paths"].items():
        for method in page.METHODS:
            if method in item:
                assert f"### `{method.upper()} {path}`" in text
