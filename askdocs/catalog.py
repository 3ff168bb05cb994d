"""The catalog: collections, documents, chunks and jobs in SQLAlchemy (SQLite WAL by default)."""

from __future__ import annotations

import enum
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def utcnow() -> datetime:
    return datetime.now(UTC)


class DocStatus(enum.StrEnum):
    queued = "queued"
    parsing = "parsing"
    embedding = "embedding"
    indexing = "indexing"
    ready = "ready"
    failed = "failed"
    deleted = "deleted"


TERMINAL = {DocStatus.ready, DocStatus.failed, DocStatus.deleted}


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Which model built the vectors; the index refuses vectors of another model.
    embedding_model: Mapped[str | None] = mapped_column(String(512))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    # Bumped by the indexer after each saved index file; readers reload when it moves.
    index_generation: Mapped[int] = mapped_column(Integer, default=0)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the bytes
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str | None] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=DocStatus.queued, index=True)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Chunk(Base):
    __tablename__ = "chunks"
    # 63-bit id derived from document id + ordinal + text: the FAISS id as well.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(Text)
    element_type: Mapped[str | None] = mapped_column(String(64))
    char_start: Mapped[int | None] = mapped_column(Integer)
    char_end: Mapped[int | None] = mapped_column(Integer)
    # float32 bytes, kept so the indexer (possibly on another machine) and compaction never re-embed.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobDocument(Base):
    """Which documents one ingest request covered (a document seen before joins the new job too)."""

    __tablename__ = "job_documents"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Catalog:
    """Owns the engine and hands out sessions; ``create()`` makes the tables if missing."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, pool_pre_ping=True, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create(self) -> Catalog:
        """Create missing tables. The worker, indexer and API start together: on SQLite a file lock
        makes them take turns (a retry alone raced again on the next table); elsewhere the database
        serialises DDL and a second ``create_all`` finds the tables."""
        if self.url.startswith("sqlite:///"):
            db = Path(self.url.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            with open(db.with_name(db.name + ".schema-lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                Base.metadata.create_all(self.engine)
            return self
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError:
            Base.metadata.create_all(self.engine)
        return self

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def ensure_collection(self, s: Session, name: str) -> Collection:
        coll = s.get(Collection, name)
        if coll is None:
            coll = Collection(id=name)
            s.add(coll)
            s.flush()
        return coll
