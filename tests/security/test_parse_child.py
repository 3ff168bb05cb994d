"""A parse child that was taken over (a parser exploit) can do little harm: run through the real parse
server and sandbox, hostile code in the child gets no network, cannot read the data dir, cannot
escape the memory limit through its own children, cannot buy time with a page count, cannot make
the worker run code with its outcome, and runs under the resource limits it was given."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.blobs import BlobStore
from core.data_dir import make_private
from core.secrets import Vault
from ingest import confine, sandbox
from ingest.errors import IngestError, ParseTimeout, TooLarge
from ingest.sandbox import Limits, parse_isolated

pytestmark = pytest.mark.integration

HOSTILE = "tests.security.parse_child_hostile"
LIMITS = Limits(soft_seconds=30, hard_seconds=40, memory_bytes=2 * 2**30, max_pages=50)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the parse child's user may write to (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="askdocs-parse-child-test-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch):
    def arm(function: str) -> None:
        monkeypatch.setenv("ASKDOCS_TEST_PARSER", f"{HOSTILE}:{function}")

    return arm


def _orders(tmp_path: Path, **orders: object) -> Path:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(orders))
    return path


def _saw(tmp_path: Path, limits: Limits = LIMITS, **orders: object) -> str:
    parsed = parse_isolated(_orders(tmp_path, **orders), "orders.json", limits)
    return parsed.blocks[0].text


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_no_network_connection_leaves_the_child(
    tmp_path: Path, hostile, caplog: pytest.LogCaptureFixture
) -> None:
    hostile("connect")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="ingest.sandbox"):
            saw = _saw(tmp_path, port=port)
        missing = [r.getMessage() for r in caplog.records if "network namespace" in r.getMessage()]
        if missing:  # the documented fallback where no namespace can be made: said in the log
            assert "parse child isolation incomplete: no network namespace" in missing[0]
            return
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the listener
    assert saw == f"refused {errno.ENETUNREACH}"


def test_the_child_reads_nothing_of_the_data_dir(tmp_path: Path, shared_dir: Path, hostile) -> None:
    data = make_private(shared_dir / "data")  # as `askdocs up` and the worker make it
    Vault(None, data / "secret.key").seal("a source token")  # secret.key made on first use
    blob = BlobStore(data / "blobs").path(BlobStore(data / "blobs").put(b"another user's file"))
    hostile("read_files")
    saw = json.loads(_saw(tmp_path, files=[str(data / "secret.key"), str(blob)]))
    identity = confine.parse_identity(LIMITS.parse_user)
    if identity is None:  # a worker not run as root: the child keeps its user (documented)
        assert saw["uid"] == os.getuid()
        return
    assert saw["uid"] == identity[0] != 0
    assert saw["errno"] == {str(data / "secret.key"): errno.EACCES, str(blob): errno.EACCES}
    assert (data.stat().st_mode & 0o777) == 0o700


def test_memory_of_the_childs_children_counts(tmp_path: Path, shared_dir: Path, hostile) -> None:
    hostile("grandchildren_hog")
    pids = shared_dir / "pids.json"
    # three grandchildren of 200 MiB each: each alone is far below the limit, together above it
    limits = Limits(soft_seconds=60, hard_seconds=90, memory_bytes=400 * 2**20, max_pages=50)
    started = time.monotonic()
    with pytest.raises(TooLarge, match="more than 400 MiB"):
        _saw(tmp_path, limits, children=3, mib=200, pids=str(pids))
    assert time.monotonic() - started < 60  # the memory watch, not the time limit, stopped it
    grandchildren = json.loads(pids.read_text())
    assert len(grandchildren) == 3
    _wait_for(lambda: not any(_alive(pid) for pid in grandchildren))  # all killed with it


def test_a_reported_page_count_buys_no_more_than_the_cap(tmp_path: Path, hostile) -> None:
    hostile("huge_page_count")
    limits = Limits(
        soft_seconds=1,
        hard_seconds=2,
        memory_bytes=2 * 2**30,
        max_pages=5000,
        ocr_page_seconds=60,
        max_ocr_seconds=3,
    )
    failed: list[BaseException] = []

    def parse() -> None:
        try:
            _saw(tmp_path, limits)
        except BaseException as e:  # noqa: BLE001 - asserted below
            failed.append(e)

    started = time.monotonic()
    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    worker.join(60)  # a million OCR pages at 60 s would be years
    assert not worker.is_alive(), "the child's page count bought it more time than the cap"
    assert time.monotonic() - started < 30
    assert len(failed) == 1 and isinstance(failed[0], ParseTimeout)
    assert "longer than 4 s" in str(failed[0])  # soft 1 s + the 3 s cap


def test_a_poisoned_outcome_runs_nothing_in_the_worker(
    tmp_path: Path, shared_dir: Path, hostile
) -> None:
    hostile("poisoned_outcome")
    marker = shared_dir / "payload-ran"
    with pytest.raises(IngestError, match="not one"):
        _saw(tmp_path, marker=str(marker))
    assert not marker.exists()


def _limits_of(pid: int) -> dict[str, str]:
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): row[26:47].strip() for row in rows}


def test_the_childs_resource_limits(tmp_path: Path, shared_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("ASKDOCS_FAILPOINTS", "parse.child=hang")
    monkeypatch.setenv("ASKDOCS_FAILPOINT_DIR", str(shared_dir))
    limits = Limits(
        soft_seconds=30,
        hard_seconds=40,
        memory_bytes=2 * 2**30,
        max_pages=50,
        max_ocr_seconds=100,
        address_space_bytes=3 * 2**30,
        max_processes=64,
        max_file_bytes=32 * 2**20,
    )
    failed: list[BaseException] = []

    def parse() -> None:
        try:
            parse_isolated(_orders(tmp_path), "orders.json", limits)
        except BaseException as e:  # noqa: BLE001 - asserted below
            failed.append(e)

    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    marker = shared_dir / "parse.child.fired"  # the hanging child wrote its pid there
    _wait_for(lambda: marker.exists() and marker.read_text().isdigit())
    pid = int(marker.read_text())
    try:
        rows = _limits_of(pid)
        status = Path(f"/proc/{pid}/status").read_text()
    finally:
        os.kill(pid, 9)
        worker.join(30)
    assert rows["Max core file size"] == "0"
    assert rows["Max file size"] == str(32 * 2**20)
    assert rows["Max cpu time"] == str(2 * (40 + 100 + 1))  # two requests' worth of hard + cap
    vm_at_fork = int(rows["Max address space"]) - 3 * 2**30
    assert 0 < vm_at_fork < 16 * 2**30  # the server's own size, plus the 3 GiB allowed
    identity = confine.parse_identity(limits.parse_user)
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    if identity is None:  # not root: same user, and no process limit (it would count ours)
        assert uid_line.split()[1] == str(os.getuid())
        assert rows["Max processes"] == "unlimited" or int(rows["Max processes"]) != 64
    else:
        assert uid_line.split()[1:] == [str(identity[0])] * 4
        assert rows["Max processes"] == "64"
    assert not worker.is_alive() and len(failed) == 1 and isinstance(failed[0], IngestError)


def test_nothing_the_child_started_outlives_its_answer(
    tmp_path: Path, shared_dir: Path, hostile
) -> None:
    hostile("leave_behind")
    pids = shared_dir / "pids.json"
    assert _saw(tmp_path, pids=str(pids)) == "answered"
    (left,) = json.loads(pids.read_text())
    _wait_for(lambda: not _alive(left))


def test_address_space_limit_stops_a_hog_before_the_memory_watch(
    tmp_path: Path, shared_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ASKDOCS_FAILPOINTS", "parse.child=hog")
    monkeypatch.setenv("ASKDOCS_FAILPOINT_DIR", str(shared_dir))
    # the watch would allow 16 GiB (more than this machine has); RLIMIT_AS allows 256 MiB more
    limits = Limits(
        soft_seconds=60,
        hard_seconds=90,
        memory_bytes=16 * 2**30,
        max_pages=50,
        address_space_bytes=256 * 2**20,
    )
    with pytest.raises(TooLarge):
        parse_isolated(_orders(tmp_path), "orders.json", limits)


def test_the_child_finds_no_secret_in_its_environment(
    tmp_path: Path, hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKDOCS_SECRET_KEY", "sealing-key-7781")
    monkeypatch.setenv("ASKDOCS_DATABASE_URL", "postgresql://askdocs:pw-5512@db/askdocs")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-parsers")
    sandbox._SERVER.stop()  # a server started with this environment
    try:
        hostile("environment")
        seen = json.loads(_saw(tmp_path))
    finally:
        sandbox._SERVER.stop()
    leaked = {k: v for k, v in seen.items() if any(s in v for s in ("7781", "5512", "sk-not"))}
    assert leaked == {}
    assert "PATH" in seen  # what a parser needs is still there


def test_a_planted_outcome_link_is_not_followed(tmp_path: Path, hostile) -> None:
    hostile("outcome_link")
    with pytest.raises(IngestError, match="not one"):
        _saw(tmp_path, target="/dev/zero")
