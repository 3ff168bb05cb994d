"""A source's items in the catalog (what its last runs recorded of each origin), read the way a
sync run reads them: a page at a time, never the whole source at once.

A run keeps only compact traces of the origins it met: ``Keys`` holds each in 8 bytes (the first
64 bits of its key). Two origins whose keys share 64 bits would read as one; a run uses ``Keys``
only to keep what it listed, so such a meeting could keep an item that is gone, never delete one.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.catalog import Catalog, DocStatus, Document, SourceItem
from sources.types import Known

T = TypeVar("T")


def item_key(origin: str) -> str:
    """The item's key: sha256 of its origin (a path or URL can be longer than a key may be)."""
    return hashlib.sha256(origin.encode()).hexdigest()


@dataclass
class Item:
    """One origin of a source as the catalog holds it (``SourceItem``), or as a run left it."""

    key: str
    fingerprint: str | None
    sha: str | None
    document_id: str | None
    owns: bool
    meta: dict[str, Any]
    origin: str = ""


def item_of(row: SourceItem) -> Item:
    """The ``Item`` of a catalog row."""
    meta = json.loads(row.meta) if row.meta else {}
    return Item(
        row.key, row.fingerprint, row.content_sha256, row.document_id, row.owns, meta, row.origin
    )


class Keys:
    """A set of item keys kept in 8 bytes each (their first 64 bits), for sets as large as a
    source: the origins a run listed, the ones it added. A key that shares its 64 bits with one
    added reads as in the set."""

    def __init__(self) -> None:
        self._values = array("Q")
        self._sorted = 0  # how many of ``_values``, from the start, are in order

    @staticmethod
    def _short(key: str) -> int:
        return int(key[:16], 16)

    def add(self, key: str) -> None:
        self._values.append(self._short(key))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if self._sorted != len(self._values):  # sorted as 8-byte values, not Python ints
            ordered = np.sort(np.frombuffer(self._values, dtype=np.uint64))
            self._values = array("Q", ordered.tobytes())
            self._sorted = len(self._values)
        short = self._short(key)
        at = bisect.bisect_left(self._values, short)
        return at < len(self._values) and self._values[at] == short

    def __len__(self) -> int:
        return len(self._values)


class Previous(Mapping[str, Known]):
    """What the last runs recorded of the source's origins whose document is still there, read
    from the catalog when a connector asks (one origin, or all of them a page at a time), never
    held whole. ``len`` is their number when the run started."""

    def __init__(self, catalog: Catalog, source_id: str, page_size: int) -> None:
        self._catalog, self._source, self._page = catalog, source_id, page_size
        with catalog.reader() as s:
            self._count = (
                s.scalar(
                    select(func.count())
                    .select_from(SourceItem)
                    .join(Document, Document.id == SourceItem.document_id)
                    .where(SourceItem.source_id == source_id, Document.status != DocStatus.deleted)
                )
                or 0
            )

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, origin: str) -> Known:
        with self._catalog.reader() as s:
            found = s.execute(
                select(SourceItem.fingerprint, SourceItem.meta)
                .join(Document, Document.id == SourceItem.document_id)
                .where(
                    SourceItem.source_id == self._source,
                    SourceItem.key == item_key(origin),
                    Document.status != DocStatus.deleted,
                )
            ).first()
        if found is None:
            raise KeyError(origin)
        return Known(found.fingerprint, json.loads(found.meta) if found.meta else {})

    def __iter__(self) -> Iterator[str]:
        for page in item_pages(self._catalog, self._source, self._page):
            with self._catalog.reader() as s:
                live = live_documents(s, {i.document_id for i in page if i.document_id})
            yield from (i.origin for i in page if i.document_id in live)


def item_pages(catalog: Catalog, source_id: str, page_size: int) -> Iterator[list[Item]]:
    """Every item of the source, ``page_size`` at a time in key order (each page its own short
    read: items removed meanwhile are not read again, none is skipped)."""
    after = ""
    while True:
        with catalog.reader() as s:
            rows = list(
                s.scalars(
                    select(SourceItem)
                    .where(SourceItem.source_id == source_id, SourceItem.key > after)
                    .order_by(SourceItem.key)
                    .limit(page_size)
                )
            )
            page = [item_of(row) for row in rows]
        if not page:
            return
        yield page
        after = page[-1].key


def pages(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, each taken from the iterator only when asked."""
    page: list[T] = []
    for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def live_documents(s: Session, doc_ids: set[str]) -> set[str]:
    """Which of ``doc_ids`` are documents not deleted (one query per thousand ids)."""
    ids = sorted(doc_ids)
    found: set[str] = set()
    for i in range(0, len(ids), 1000):
        found.update(
            s.scalars(
                select(Document.id).where(
                    Document.id.in_(ids[i : i + 1000]), Document.status != DocStatus.deleted
                )
            )
        )
    return found
