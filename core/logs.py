"""Structured logs: one JSON object per line from every process, with the request id that follows
one upload or one question across processes.

The API takes a request's id from its ``X-Request-ID`` header (when it is a short token) or makes
one, answers with it, and keeps it in a context variable for the request; ``core.celery_app``
sends it with every task as a message header and the workers set it again while the task runs (so
the indexer's step for an upload carries the upload's id), and the generator client sends it to the
generator as ``X-Request-ID``. Log records say what happened and to which ids; never an API key or
a question's text (the audit log keeps that only with ``ASKDOCS_AUDIT_QUESTIONS``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("askdocs_request_id", default=None)
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# attributes every LogRecord has; anything else was passed as ``extra`` and goes into the line
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def request_id() -> str | None:
    """The id of the request (or task) this code runs for, if any."""
    return _request_id.get()


def new_request_id(offered: str | None = None) -> str:
    """``offered`` when it is a short token (a proxy's or a client's id), else a fresh one."""
    if offered and _VALID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


@contextmanager
def bound(rid: str | None) -> Iterator[None]:
    """Log and propagate ``rid`` as the request id inside the block."""
    token = _request_id.set(rid)
    try:
        yield
    finally:
        _request_id.reset(token)


def bind(rid: str | None) -> None:
    """Set the request id for what follows in this context (a Celery task's run)."""
    _request_id.set(rid)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "process", "pid", "request_id", "message", ...extra}``."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self._process,
            "pid": record.process,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or _request_id.get()
        if rid:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id" and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(process: str, fmt: str = "json", level: int = logging.INFO) -> None:
    """Every log record of this process to stderr, as JSON lines (``fmt="json"``) or text; the
    loggers of uvicorn and Celery included."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s {process}[%(process)d] %(name)s %(levelname)s %(message)s"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
