from pathlib import Path

import pytest
from pydantic import ValidationError

from askdocs.stack import settings_env
from core.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_work_on_a_laptop(monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("ASKDOCS_"):
            monkeypatch.delenv(k)
    s = Settings()
    assert s.data_dir == Path("./data")
    assert s.catalog_url.startswith("sqlite:///") and s.catalog_url.endswith("data/catalog.db")
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.generator_url == "http://127.0.0.1:8010/v1"


def test_env_prefix_and_validation(monkeypatch):
    monkeypatch.setenv("ASKDOCS_CHUNK_TOKENS", "128")
    monkeypatch.setenv("ASKDOCS_DATABASE_URL", "postgresql://u@h/db")
    s = Settings()
    assert s.chunk_tokens == 128 and s.catalog_url == "postgresql://u@h/db"
    monkeypatch.setenv("ASKDOCS_CHUNK_TOKENS", "3")
    with pytest.raises(ValidationError):
        Settings()


def test_settings_env_round_trips(monkeypatch, tmp_path):
    s = Settings(data_dir=tmp_path, chunk_tokens=100, ocr=False)
    for k, v in settings_env(s).items():
        monkeypatch.setenv(k, v)
    again = Settings()
    assert again.data_dir == tmp_path.resolve()
    assert again.chunk_tokens == 100 and again.ocr is False
