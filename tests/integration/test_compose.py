import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def compose() -> list[str]:
    """`docker compose` (v2 plugin) where present, else Debian's `docker-compose`."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    exe = shutil.which("docker-compose")
    assert exe, (
        "neither `docker compose` nor `docker-compose` is installed (scripts/install.sh test)"
    )
    return [exe]


@pytest.mark.parametrize("profile", ["gpu", "cpu", "observability"])
def test_compose_file_is_valid(profile: str) -> None:
    out = subprocess.run(
        [*compose(), "--profile", profile, "config", "--services"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    services = set(out.stdout.split())
    assert {"redis", "worker", "indexer", "api", "ui"} <= services
    expected = {
        "gpu": {"generator"},
        "cpu": {"generator-cpu"},
        "observability": {"prometheus", "grafana"},
    }
    assert expected[profile] <= services
