"""`askdocs check` over documents older than the content column (their id is the original's
sha256): read a page at a time, as the newer rows are, and every missing original found."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from core import blob_check
from core.blobs import BlobStore
from core.catalog import Catalog, Document


def test_old_rows_are_checked_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
    blobs = BlobStore(tmp_path / "blobs")
    shas = []
    with catalog.session() as s:
        catalog.ensure_collection(s, "old")
        for i in range(7):
            data = f"Ledger page {i} of the harbour office.".encode()
            sha = blobs.put(data) if i % 3 else hashlib.sha256(data).hexdigest()
            shas.append(sha)
            s.add(Document(id=sha, collection_id="old", name=f"p{i}.txt", size_bytes=len(data)))
    monkeypatch.setattr(blob_check, "STEP", 2)
    limits: list[int] = []

    def seen(_c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
        if re.search(r"content_sha256 IS NULL.*LIMIT", statement, re.S):
            limits.append(params[-2] if "OFFSET" in statement else params[-1])

    event.listen(catalog.engine, "before_cursor_execute", seen)
    try:
        bad = blob_check.check_originals(catalog, blobs)
    finally:
        event.remove(catalog.engine, "before_cursor_execute", seen)

    assert sorted(b.name for b in bad) == ["p0.txt", "p3.txt", "p6.txt"]
    assert {b.problem for b in bad} == {"missing"}
    assert limits and set(limits) == {2} and len(limits) == 4  # 7 rows: 2 + 2 + 2 + 1
