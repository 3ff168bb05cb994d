"""Are the originals the catalog refers to all there, whole? By size (a ``stat`` each), or by
re-hashing every byte (``deep``: what ``askdocs check --deep`` runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, func, select, true

from core.blobs import BlobStore, file_sha256
from core.catalog import Catalog, Document

STEP = 500


@dataclass(frozen=True)
class BadOriginal:
    """A document whose original is missing, or whose bytes are no longer the ones uploaded
    (``changed``: another size, or with ``deep``, another sha256)."""

    document_id: str
    collection: str
    name: str
    sha256: str
    problem: Literal["missing", "changed"]


def _scope(collection: str | None) -> ColumnElement[bool]:
    return Document.collection_id == collection if collection else true()


def originals_size(catalog: Catalog, collection: str | None = None) -> tuple[int, int]:
    """(how many originals, their bytes) the documents of ``collection`` (or all) use."""
    blob = func.coalesce(Document.content_sha256, Document.id).label("blob")
    each = (
        select(blob, func.max(Document.size_bytes).label("size"))
        .where(_scope(collection))
        .group_by(blob)
        .subquery()
    )
    with catalog.reader() as s:
        count, total = s.execute(select(func.count(), func.sum(each.c.size))).one()
    return int(count or 0), int(total or 0)


def _originals(catalog: Catalog, collection: str | None) -> Iterator[tuple[str, int]]:
    """(sha256, size) of each original in use, in steps of ``STEP`` along the content index."""
    after = ""
    while True:
        with catalog.reader() as s:
            found = s.execute(
                select(Document.content_sha256, func.max(Document.size_bytes))
                .where(
                    _scope(collection),
                    Document.content_sha256.is_not(None),
                    Document.content_sha256 > after,
                )
                .group_by(Document.content_sha256)
                .order_by(Document.content_sha256)
                .limit(STEP)
            ).all()
        yield from ((str(sha), int(size)) for sha, size in found)
        if len(found) < STEP:
            break
        after = found[-1][0]
    after = ""
    while True:  # rows older than the content column: the id was the hash
        with catalog.reader() as s:
            old = s.execute(
                select(Document.id, Document.size_bytes)
                .where(_scope(collection), Document.content_sha256.is_(None), Document.id > after)
                .order_by(Document.id)
                .limit(STEP)
            ).all()
        yield from ((str(i), int(size)) for i, size in old)
        if len(old) < STEP:
            break
        after = old[-1][0]


def check_originals(
    catalog: Catalog,
    blobs: BlobStore,
    collection: str | None = None,
    deep: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[BadOriginal]:
    """Every document (of ``collection``, or all) whose original is missing or changed.

    :param deep: re-hash each original (reads every byte) instead of comparing its size.
    :param progress: called with the bytes of each original checked (with ``deep``, as they are
        read).
    """
    bad: dict[str, Literal["missing", "changed"]] = {}
    for sha, size in _originals(catalog, collection):
        path = blobs.path(sha)
        try:
            on_disk = path.stat().st_size
        except FileNotFoundError:
            bad[sha] = "missing"
            if progress is not None:
                progress(size)
            continue
        if on_disk != size:
            bad[sha] = "changed"
        elif deep:
            try:
                if file_sha256(path, progress) != sha:
                    bad[sha] = "changed"
            except FileNotFoundError:  # removed while read (the sweep: no document uses it now)
                bad[sha] = "missing"
            continue
        if progress is not None:
            progress(size)
    return _documents_of(catalog, bad, collection)


def _documents_of(
    catalog: Catalog, bad: dict[str, Literal["missing", "changed"]], collection: str | None
) -> list[BadOriginal]:
    """The documents that use the originals ``bad``, each with its problem."""
    out: list[BadOriginal] = []
    shas = sorted(bad)
    for at in range(0, len(shas), STEP):
        part = shas[at : at + STEP]
        with catalog.reader() as s:
            rows = s.execute(
                select(
                    Document.id, Document.collection_id, Document.name, Document.content_sha256
                ).where(
                    _scope(collection),
                    Document.content_sha256.in_(part)
                    | (Document.content_sha256.is_(None) & Document.id.in_(part)),
                )
            ).all()
        for doc_id, coll, name, sha in rows:
            blob = sha or doc_id
            out.append(BadOriginal(doc_id, coll, name, blob, bad[blob]))
    return sorted(out, key=lambda b: (b.collection, b.name, b.document_id))
