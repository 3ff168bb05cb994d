"""A folder source reads a file under its root whole up to the size limit, and refuses one past it,
whatever the size of the pieces it reads in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sources.folder import DIR_FLAGS, READ_PIECE, read_beneath

pytestmark = pytest.mark.unit


def test_a_file_is_read_whole_up_to_the_limit_and_refused_past_it(tmp_path: Path) -> None:
    data = os.urandom(2 * READ_PIECE + 17)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "big.bin").write_bytes(data)
    (tmp_path / "empty.txt").write_bytes(b"")
    root = os.open(tmp_path, DIR_FLAGS)
    try:
        assert read_beneath(root, "sub/big.bin", len(data)) == data
        assert read_beneath(root, "sub/big.bin", 10 * len(data)) == data
        assert read_beneath(root, "empty.txt", 10) == b""
        with pytest.raises(ValueError, match="over the limit"):
            read_beneath(root, "sub/big.bin", len(data) - 1)
        with pytest.raises(ValueError, match="over the limit"):
            read_beneath(root, "sub/big.bin", READ_PIECE)
    finally:
        os.close(root)
