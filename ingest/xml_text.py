"""XML that declares entities (patent, publishing and legal XML do), read without expanding them.

unstructured reads XML too, but drops the text after an entity reference, and the guards used to
refuse such files outright. Here lxml parses with entity resolution, DTD loading and network access
off; an entity whose declared value is plain text (no reference inside, a few hundred characters at
most: ``<!ENTITY company "Acme">``) is put in place by us, one level only, so nothing can grow; any
other reference (external, nested) reads as nothing. libxml2's own amplification limit stops an
entity bomb while parsing: it fails as unsafe, without expanding anything.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from ingest.errors import CorruptDocument, UnsafeDocument
from ingest.types import Block

# Longest declared entity value put in place of its reference.
MAX_ENTITY_CHARS = 512
_TITLE_TAGS = ("title", "heading", "head", "h1", "h2", "h3", "invention-title")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _plain_entities(root: etree._Element) -> dict[str, str]:
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is None:
        return {}
    return {
        e.name: e.content
        for e in dtd.iterentities()
        if e.content and "&" not in e.content and len(e.content) <= MAX_ENTITY_CHARS
    }


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def read(path: Path, name: str) -> list[Block]:
    """One block per element with text of its own, in document order."""
    try:
        root = etree.parse(str(path), _parser()).getroot()
    except etree.XMLSyntaxError as e:
        if "amplification" in str(e).lower() or "entity" in str(e).lower():
            raise UnsafeDocument(
                f"{name} declares entities that would expand past the XML parser's limits (the "
                "shape of an entity-expansion bomb); it was not read"
            ) from e
        raise CorruptDocument(f"{name} is not well-formed XML: {e}") from e
    entities = _plain_entities(root)
    blocks: list[Block] = []

    def text_of(el: etree._Element) -> str:
        parts = [el.text or ""]
        for child in el:
            if isinstance(child, etree._Entity):
                parts.append(entities.get(child.name, ""))
            elif isinstance(child.tag, str):
                parts.append(text_of(child))
            parts.append(child.tail or "")
        return "".join(parts)

    def walk(el: etree._Element) -> None:
        own = (el.text or "") + "".join(c.tail or "" for c in el)
        own_entities = any(isinstance(c, etree._Entity) for c in el)
        if own.strip() or own_entities:  # a paragraph: the whole of it, inline markup and all
            text = " ".join(text_of(el).split())
            if text:
                kind = "title" if _local(el.tag) in _TITLE_TAGS else "text"
                blocks.append(Block(text, kind))
            return
        for child in el:
            if isinstance(child.tag, str):
                walk(child)

    walk(root)
    return blocks
