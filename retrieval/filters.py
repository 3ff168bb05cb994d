"""Metadata filters: which documents of a collection a search may return. They resolve to document
ids before ranking, and the ids go inside the search (FAISS id selector, lexical filter), so a filter
never drops results after a top-k cut."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select

from core.catalog import Catalog, DocStatus, Document


@dataclass(frozen=True)
class DocumentFilter:
    types: tuple[str, ...] = ()  # file extensions, lower case, without the dot
    tags: tuple[str, ...] = ()  # all of them
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def matching_documents(
    catalog: Catalog, collection: str, f: DocumentFilter, within: list[str] | None = None
) -> list[str]:
    """Ids of the collection's ready documents that pass ``f`` (and are in ``within`` if given)."""
    conds = [Document.collection_id == collection, Document.status == DocStatus.ready]
    if f.types:
        name = func.lower(Document.name)
        conds.append(or_(*[name.like(f"%.{t.lower()}") for t in f.types]))
    for tag in f.tags:  # tags are stored as a JSON list: match the quoted label
        conds.append(Document.tags.like(f"%{json.dumps(tag.strip().lower())}%"))
    if f.uploaded_after is not None:
        conds.append(Document.created_at >= _utc(f.uploaded_after))
    if f.uploaded_before is not None:
        conds.append(Document.created_at < _utc(f.uploaded_before))
    if within is not None:
        conds.append(Document.id.in_(within))
    with catalog.reader() as s:
        return list(s.scalars(select(Document.id).where(and_(*conds))))
