"""Suite-wide network guard: every Python process of the run (this one and those the tests start)
loads tests/netguard/sitecustomize.py, which refuses and records any non-local connection or lookup;
proxy variables point at a closed port as a second net. The run fails if anything was recorded."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

NETGUARD = Path(__file__).parent / "netguard"
_LOG = Path(tempfile.mkdtemp(prefix="askdocs-netguard-")) / "attempts.log"


def pytest_configure(config: pytest.Config) -> None:
    _LOG.touch()
    os.environ["ASKDOCS_NETGUARD_LOG"] = str(_LOG)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(NETGUARD), os.environ.get("PYTHONPATH", "")) if p
    )
    closed = "http://127.0.0.1:9"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ[var] = closed
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"
    sys.path.insert(0, str(NETGUARD))
    import sitecustomize  # noqa: F401  (this guard, installed in this process too)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    attempts = _LOG.read_text() if _LOG.exists() else ""
    if attempts.strip():
        print(f"\nNETWORK ACCESS ATTEMPTED during the tests ({_LOG}):\n{attempts}", file=sys.stderr)
        session.exitstatus = 1


def netguard_log() -> Path:
    return _LOG
