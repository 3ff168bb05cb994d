"""E-mails (EML, Outlook MSG): their headers as metadata and as a searchable first block, and their
attachments as files of their own (the worker ingests each as a document linked to the mail)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

from ingest.types import Attachment, Block

MAX_ATTACHMENTS = 50
# Content types of an encrypted body, as bytes in an EML and as UTF-16 inside an Outlook MSG.
_ENCRYPTED = [
    m.encode(enc)
    for m in ("multipart/encrypted", "pgp-encrypted", "pkcs7-mime")
    for enc in ("ascii", "utf-16-le")
]
_FIELDS = (("from", "sent_from"), ("to", "sent_to"), ("cc", "cc_recipient"), ("subject", "subject"))


def metadata(elements: list[Any], path: Path) -> dict[str, Any]:
    """Sender, recipients, subject and date as unstructured read them from the first element (or
    from the headers themselves when the mail has no body)."""
    if not elements:
        return _eml_headers(path)
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


def _eml_headers(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        out = {
            "from": msg.get_all("From"),
            "to": msg.get_all("To"),
            "cc": msg.get_all("Cc"),
            "subject": msg.get("Subject"),
            "date": msg.get("Date"),
        }
    except Exception:  # noqa: BLE001 - not an RFC 822 file (an MSG): no headers to show
        return {}
    return {k: [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in out.items() if v}


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
    return any(m in head for m in _ENCRYPTED)


def _clean(name: str | None, i: int) -> str:
    base = Path((name or "").replace("\\", "/")).name.strip()
    return base or f"attachment-{i}"


def attachments(path: Path, kind: str) -> list[Attachment]:
    """The attached files of an EML or MSG file (images shown inside the body are skipped)."""
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
            if part.get_content_maintype() == "image" and (
                part.get_filename() is None
                or part.get_content_disposition() == "inline"
                or part.get("Content-ID")
            ):
                continue  # a logo or a picture in the body, not a file someone attached
            data = part.get_payload(decode=True)
            if data:
                found.append(Attachment(_clean(part.get_filename(), i), data))
    return found[:MAX_ATTACHMENTS]
