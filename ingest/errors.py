"""Why a document could not be ingested, in words a person can act on."""

from __future__ import annotations


class IngestError(Exception):
    """A permanent failure of one document. ``code`` is stable for the API; the message is for people."""

    code = "ingest_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedFormat(IngestError):
    code = "unsupported_format"


class EmptyDocument(IngestError):
    code = "empty_document"


class EncryptedDocument(IngestError):
    code = "encrypted"


class MissingConverter(IngestError):
    """A format that needs a program this machine lacks (LibreOffice for .doc and .ppt)."""

    code = "needs_libreoffice"


class CorruptDocument(IngestError):
    code = "corrupt"


class TooLarge(IngestError):
    code = "too_large"


class ParseTimeout(IngestError):
    code = "timeout"


class MissingOriginal(IngestError):
    code = "missing_original"


class UnsafeDocument(IngestError):
    """A zip or XML bomb, or a container past the unpacking limits."""

    code = "unsafe"


def by_code() -> dict[str, type[IngestError]]:
    """Every specific error class by its stable code."""
    return {c.code: c for c in _subclasses(IngestError)}


def _subclasses(cls: type[IngestError]) -> list[type[IngestError]]:
    return [d for c in cls.__subclasses__() for d in (c, *_subclasses(c))]
