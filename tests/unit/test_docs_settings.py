"""docs/settings.md is what scripts/settings_table.py makes from the Settings model now: every
setting in a group with when to change it, every default as the code has it (a default_factory's
value too)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from core.settings import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_page_is_up_to_date():
    table = _script()
    assert (ROOT / "docs" / "settings.md").read_text() == table.page(), (
        "run .venv/bin/python scripts/settings_table.py --write"
    )


def test_every_setting_has_a_group_and_when_to_change_it():
    table = _script()
    # a new setting needs its row (group and when to change it) in scripts/settings_table.py GROUPS
    assert table.ungrouped() == []
    whens = {name: when for _t, _i, rows in table.GROUPS for name, when in rows.items()}
    assert [n for n, w in whens.items() if len(w) < 10] == []
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_each_default_on_the_page_is_the_codes():
    table = _script()
    text = (ROOT / "docs" / "settings.md").read_text()
    assert "PydanticUndefined" not in text
    for name, field in Settings.model_fields.items():
        value = field.get_default(call_default_factory=True)
        row = next(
            line for line in text.splitlines() if line.startswith(f"| `ASKDOCS_{name.upper()}` |")
        )
        cell = row.split(" | ")[1]
        assert cell == table.default_text(name), name
        if isinstance(value, dict | list):  # a default_factory's value, not pydantic's marker
            assert cell == f"`{json.dumps(value)}`", name


def test_default_text_calls_a_default_factory():
    table = _script()
    factories = [n for n, f in Settings.model_fields.items() if f.default_factory is not None]
    for name in factories:
        assert "Undefined" not in table.default_text(name)
