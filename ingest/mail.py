"""E-mails (EML, Outlook MSG): their headers as metadata and as a searchable first block, and their
attachments as files of their own (the worker ingests each as a document linked to the mail)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

from ingest.types import Attachment, Block

MAX_ATTACHMENTS = 50
_FIELDS = (("from", "sent_from"), ("to", "sent_to"), ("cc", "cc_recipient"), ("subject", "subject"))


def metadata(elements: list[Any]) -> dict[str, Any]:
    """Sender, recipients, subject and date as unstructured read them from the first element."""
    if not elements:
        return {}
    md = elements[0].metadata
    out: dict[str, Any] = {}
    for key, attr in _FIELDS:
        value = getattr(md, attr, None)
        if value:
            out[key] = value
    date = getattr(md, "last_modified", None)
    if date:
        out["date"] = str(date)
    return out


def header_block(meta: dict[str, Any]) -> Block | None:
    """``From: ... / To: ... / Date: ... / Subject: ...`` as the mail's first block."""
    lines = []
    for key in ("from", "to", "cc", "date", "subject"):
        value = meta.get(key)
        if value:
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            lines.append(f"{key.capitalize()}: {shown}")
    return Block("\n".join(lines), "text", None) if lines else None


def encrypted(path: Path) -> bool:
    """Whether the message body is encrypted (PGP/MIME or S/MIME): its head names the envelope."""
    with open(path, "rb") as f:
        head = f.read(1 << 16).lower()
    return any(m in head for m in (b"multipart/encrypted", b"pgp-encrypted", b"pkcs7-mime"))


def _clean(name: str | None, i: int) -> str:
    base = Path((name or "").replace("\\", "/")).name.strip()
    return base or f"attachment-{i}"


def attachments(path: Path, kind: str) -> list[Attachment]:
    """The attached files of an EML or MSG file (inline images without a name are skipped)."""
    found: list[Attachment] = []
    if kind == "msg":
        from oxmsg import Message

        msg = Message.load(str(path))
        for i, att in enumerate(msg.attachments, 1):
            data = att.file_bytes
            if data:
                found.append(Attachment(_clean(att.file_name, i), data))
    else:
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        for i, part in enumerate(msg.iter_attachments(), 1):  # type: ignore[attr-defined]
            if part.get_filename() is None and part.get_content_maintype() == "image":
                continue
            data = part.get_payload(decode=True)
            if data:
                found.append(Attachment(_clean(part.get_filename(), i), data))
    return found[:MAX_ATTACHMENTS]
