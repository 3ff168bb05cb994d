import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_guard_refuses_and_records_a_non_local_connection(tmp_path):
    log = tmp_path / "attempts.log"
    code = (
        "import socket\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('192.0.2.1', 80))\n"
        "except OSError as e:\n"
        "    print('refused:', e)\n"
    )
    env = {**os.environ, "ASKDOCS_NETGUARD_LOG": str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "network guard" in out.stdout
    assert "192.0.2.1" in log.read_text()


def test_guard_allows_loopback(tmp_path):
    log = tmp_path / "attempts.log"
    code = (
        "import socket\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n"
        "c = socket.socket(); c.connect(srv.getsockname()); print('ok')\n"
    )
    env = {**os.environ, "ASKDOCS_NETGUARD_LOG": str(log)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ok"
    assert not log.exists() or log.read_text() == ""
