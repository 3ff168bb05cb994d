"""The issuer and reporting period of a parsed document (``retrieval.doc_fields`` reads them off
its file name, title and first page), set on its catalog row at ingestion."""

from __future__ import annotations

from core.catalog import Document
from ingest.types import ParsedDocument
from retrieval.doc_fields import FIELDS_VERSION, DocFields, extract


def of(name: str, parsed: ParsedDocument) -> DocFields:
    blocks = parsed.blocks
    first = next((b.page for b in blocks if b.page is not None), None)
    page = [b.text for b in blocks if b.page == first] if first is not None else []
    if not page:
        page = [b.text for b in blocks[:60]]
    text = "\n".join(page)
    title = next((b.text for b in blocks[:20] if b.kind == "title"), "")
    subject = parsed.metadata.get("subject") if parsed.metadata else None
    return extract(name, str(subject or title), text)


def set_fields(doc: Document, parsed: ParsedDocument) -> None:
    """Fill ``doc.issuer`` and ``doc.period`` (None where nothing was found)."""
    fields = of(doc.name, parsed)
    doc.issuer = fields.issuer
    doc.period = fields.period.encode() if fields.period else None
    doc.fields_version = FIELDS_VERSION
