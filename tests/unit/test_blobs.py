"""The blob store on a real file system: streamed originals are hashed and stored whole, a stream
past its limit leaves nothing, a damaged original is replaced by the next store of its bytes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.blobs import PIECE, TMP_PREFIX, BlobStore, TooLarge, file_sha256

pytestmark = pytest.mark.unit


def _leftovers(root: Path) -> list[Path]:
    return list(root.rglob(f"{TMP_PREFIX}*"))


@contextmanager
def _spooled(data: bytes) -> Iterator[tempfile.SpooledTemporaryFile[bytes]]:
    """What Starlette hands a route: a file spooled to disk past 1 MiB, read from its start."""
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as f:
        f.write(data)
        f.seek(0)
        yield f


def test_a_stream_larger_than_the_spool_and_a_piece_is_hashed_and_stored_whole(
    tmp_path: Path,
) -> None:
    data = os.urandom(3 * PIECE + 12345)
    blobs = BlobStore(tmp_path / "blobs")
    with _spooled(data) as f:
        assert f._rolled  # on disk, as a large upload is
        sha, size = blobs.put_stream(f, limit=len(data))
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert blobs.path(sha).read_bytes() == data
    assert file_sha256(blobs.path(sha)) == sha
    assert _leftovers(tmp_path) == []


def test_a_stream_past_its_limit_is_refused_and_nothing_of_it_stays(tmp_path: Path) -> None:
    data = os.urandom(2 * PIECE + 1)
    blobs = BlobStore(tmp_path / "blobs")
    with _spooled(data) as f, pytest.raises(TooLarge, match=str(2 * PIECE)):
        blobs.put_stream(f, limit=2 * PIECE)
    assert not blobs.path(hashlib.sha256(data).hexdigest()).exists()
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_a_truncated_original_is_replaced_by_the_next_store_of_its_bytes(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    data = b"The ferry timetable for the winter season. " * 1000
    sha = blobs.put(data)
    path = blobs.path(sha)
    path.write_bytes(data[:100])  # what a crash of a writer that never flushed leaves
    assert not blobs.intact(sha, len(data))
    assert blobs.put(data) == sha
    assert path.read_bytes() == data

    path.write_bytes(b"")
    with _spooled(data) as f:
        assert blobs.put_stream(f, limit=len(data)) == (sha, len(data))
    assert path.read_bytes() == data
    assert _leftovers(tmp_path) == []


def test_an_intact_original_is_not_written_again(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    data = b"Barn owls nest in the old mill."
    sha = blobs.put(data)
    before = blobs.path(sha).stat()
    assert blobs.put(data) == sha
    with _spooled(data) as f:
        assert blobs.put_stream(f, limit=100) == (sha, len(data))
    after = blobs.path(sha).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _leftovers(tmp_path) == []


def test_a_name_from_outside_is_never_a_path(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="not a sha256"):
        blobs.path("../../etc/passwd")
    assert not blobs.intact("0" * 64, 0)


STORE_ONE = """
import sys
from pathlib import Path
from core.blobs import BlobStore
with open(sys.argv[2], "rb") as f:
    BlobStore(Path(sys.argv[1])).put_stream(f, 1 << 30)
"""


@pytest.mark.parametrize("point", ["blobs.before_rename", "blobs.before_dir_sync"])
def test_a_writer_killed_mid_store_leaves_no_file_or_a_whole_one(
    tmp_path: Path, point: str
) -> None:
    data = os.urandom(PIECE + 99)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    root = tmp_path / "blobs"
    env = {
        **os.environ,
        "ASKDOCS_FAILPOINTS": f"{point}=kill",
        "ASKDOCS_FAILPOINT_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", STORE_ONE, str(root), str(source)], env=env, timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    path = BlobStore(root).path(hashlib.sha256(data).hexdigest())
    if point == "blobs.before_rename":
        assert not path.exists() and len(_leftovers(root)) == 1  # the sweep removes it later
    else:
        assert path.read_bytes() == data and _leftovers(root) == []
