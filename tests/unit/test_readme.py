from pathlib import Path

import pytest

from core.settings import Settings

pytestmark = pytest.mark.unit
README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table():
    text = README.read_text()
    missing = [n for n in Settings.model_fields if f"`ASKDOCS_{n.upper()}`" not in text]
    assert missing == []
