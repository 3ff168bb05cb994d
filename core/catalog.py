"""The catalog: collections, documents, chunks and jobs in SQLAlchemy (SQLite WAL by default)."""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    and_,
    create_engine,
    event,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from core.schema import upgrade


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite keeps none of the zone, so it is put back on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class DocStatus(enum.StrEnum):
    queued = "queued"
    parsing = "parsing"
    embedding = "embedding"
    indexing = "indexing"
    ready = "ready"
    failed = "failed"
    cancelled = "cancelled"
    deleted = "deleted"


TERMINAL = {DocStatus.ready, DocStatus.failed, DocStatus.cancelled, DocStatus.deleted}
# A worker owns a document in these states while it holds the lease; the janitor takes them back.
IN_WORKER = {DocStatus.queued, DocStatus.parsing, DocStatus.embedding}
# States a document may be queued again from (as an upload of the same bytes does).
RESTARTABLE = (DocStatus.deleted, DocStatus.failed, DocStatus.cancelled)


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Which model built the vectors; the index refuses vectors of another model.
    embedding_model: Mapped[str | None] = mapped_column(String(512))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    # Bumped by the indexer at each commit of its indexes; readers load what changed when it moves.
    index_generation: Mapped[int] = mapped_column(Integer, default=0)
    # The manifest of the generation: the exact vector segment files (JSON, retrieval/segments.py).
    segments: Mapped[str | None] = mapped_column(Text)
    # Who may change its members; None = only admins (the built-in "default" before any user).
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Set when its owner deletes it: from then on nobody sees it, and the indexer drops its
    # indexes, documents, originals (unless used elsewhere) and finally this row.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when its owner renames it; the indexer moves the index files and every row to the new
    # name in one step (``lifecycle.rename``), then this row is gone.
    renaming_to: Mapped[str | None] = mapped_column(String(64))
    # Set when the deployment's embedding model is not the one that built the index: workers
    # re-embed its chunks into ``Chunk.next_vector`` while the old index keeps serving, then the
    # indexer switches index and model in one step (``switch_model``) and clears it.
    reembed_to: Mapped[str | None] = mapped_column(String(512))
    # When the re-embedding last moved (started, or a batch written): the janitor sends it again
    # when it stalls.
    reembed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the user name
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    """An API key: the public id finds the row, only a SHA-256 of the secret part is kept."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Membership(Base):
    """A user's role in a collection other than its owner: ``read`` or ``write``."""

    __tablename__ = "memberships"
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(8))


class AuditEvent(Base):
    """Who did what: uploads, deletes, questions, membership and key changes."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    collection_id: Mapped[str | None] = mapped_column(String(64))
    document_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


def document_id(collection: str, content_sha256: str) -> str:
    """The first id tried for new bytes in a collection: the same bytes in two collections are two
    documents (and reveal nothing about each other). Only an id: a renamed collection keeps its
    documents' ids, so find a document by ``find_document``, never by recomputing this."""
    return hashlib.sha256(f"{collection}\0{content_sha256}".encode()).hexdigest()


def new_document_id(
    s: Session, collection: str, content_sha256: str, taken: set[str] | None = None
) -> str:
    """An unused id for new bytes in ``collection`` (the plain one is taken only when a collection
    of this name was renamed away with the same bytes). ``taken``: the ids in use among those
    looked up beforehand (``KnownDocuments``), instead of a query."""
    first = document_id(collection, content_sha256)
    if (first not in taken) if taken is not None else (s.get(Document, first) is None):
        return first
    return hashlib.sha256(f"{first}\0{uuid.uuid4().hex}".encode()).hexdigest()


def _with_content(collection: str, hashes: list[str]) -> ColumnElement[bool]:
    """Documents of ``collection`` holding one of these contents (on rows older than the content
    column, the id was the hash)."""
    return and_(
        Document.collection_id == collection,
        or_(
            Document.content_sha256.in_(hashes),
            and_(Document.content_sha256.is_(None), Document.id.in_(hashes)),
        ),
    )


@dataclass
class KnownDocuments:
    """What many admissions of one transaction need to know, read in two queries instead of two
    per file: the collection's documents by content, and which first-choice ids are in use."""

    by_content: dict[str, Document]
    taken_ids: set[str]

    @classmethod
    def read(cls, s: Session, collection: str, hashes: Iterable[str]) -> KnownDocuments:
        """As ``find_document`` (rows locked) and ``new_document_id`` would find them, for each of
        ``hashes``."""
        wanted = list(dict.fromkeys(hashes))
        by_content: dict[str, Document] = {}
        for at in range(0, len(wanted), 500):  # bounded IN lists
            part = wanted[at : at + 500]
            rows = s.scalars(
                select(Document)
                .where(_with_content(collection, part))
                .order_by(Document.created_at)
                .with_for_update()
            ).all()
            for d in rows:  # the oldest of a content first, as find_document takes it
                by_content.setdefault(d.content_sha256 or d.id, d)
        firsts = [document_id(collection, h) for h in wanted]
        taken: set[str] = set()
        for at in range(0, len(firsts), 500):
            taken.update(
                s.scalars(select(Document.id).where(Document.id.in_(firsts[at : at + 500])))
            )
        return cls(by_content, taken)


def find_document(
    s: Session, collection: str, content_sha256: str, lock: bool = False
) -> Document | None:
    """The document of ``collection`` with these bytes: the same bytes twice in one collection are
    one document."""
    query = select(Document).where(_with_content(collection, [content_sha256]))
    if lock:
        query = query.with_for_update()
    return s.scalars(query.order_by(Document.created_at)).first()


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # document_id(...)
    # sha256 of the bytes: the blob's name. None on catalogs older than this column (id was it).
    content_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str | None] = mapped_column(String(128))
    # Labels given at upload, a JSON list (search can filter on them).
    tags: Mapped[str | None] = mapped_column(Text)
    # What the format says of it, a JSON object (an e-mail's from, to, cc, date, subject).
    meta: Mapped[str | None] = mapped_column(Text)
    # The document it came out of (an e-mail's attachment names its mail); deleted with it.
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The embedding model that made its chunks' vectors (None: rows of an older version).
    embedded_with: Mapped[str | None] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[DocStatus] = mapped_column(
        Enum(
            DocStatus,
            native_enum=False,  # a VARCHAR(16) as before, on SQLite and PostgreSQL alike
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=DocStatus.queued,
        index=True,
    )
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int | None] = mapped_column(Integer)
    # Pages read so far while it parses (OCR goes page by page); equals ``pages`` once parsed.
    pages_done: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The worker process that runs it, until when; a dead worker's lease runs out and the janitor
    # hands the document to another.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # The source it was synced from and where it lives there (a path or a URL); None: uploaded.
    source_id: Mapped[str | None] = mapped_column(String(36), index=True)
    origin: Mapped[str | None] = mapped_column(Text)
    # Who the document is about and which reporting period it covers, read off its file name,
    # title and first page at ingestion (``ingest.doc_fields``); search matches them against the
    # question. None: nothing found, or a document ingested before these columns.
    issuer: Mapped[str | None] = mapped_column(String(256))
    period: Mapped[str | None] = mapped_column(String(64))
    # which rules read them (retrieval.doc_fields.FIELDS_VERSION; 0: ingested before the columns):
    # the janitor reads them again from the chunks where the rules are newer
    fields_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        # a sync finds a source's documents by origin when it leaves the source; a hash index on
        # PostgreSQL (equality is all it needs, and a B-tree refuses a key past ~2.7 kB: URLs)
        Index("ix_documents_origin", "origin", postgresql_using="hash"),
    )

    @property
    def blob(self) -> str:
        return self.content_sha256 or self.id


class Blob(Base):
    """An original in the blob store, by the sha256 of its bytes: what lets a writer and the
    blob sweep agree on whether the file may go, without a lock over the whole store.

    A writer (an upload, a worker storing attachments, a sync) puts the file, then in the
    transaction that adds its document upserts this row (``core.blob_refs.hold``), which clears
    ``orphaned_at`` and waits for a sweep deleting it. The sweep (``core.blob_sweep``) marks a
    row no document uses, and unlinks the file only a grace period later, with the row locked
    and the documents read again."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When a sweep found no document using it (None: in use, or stored since).
    orphaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


def status_counts(s: Session, collection: str) -> dict[str, int]:
    """Documents of ``collection`` per state."""
    rows = s.execute(
        select(Document.status, func.count())
        .where(Document.collection_id == collection)
        .group_by(Document.status)
    ).all()
    return {str(status): n for status, n in rows}


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
    # the last page the chunk covers (a chunk spanning pages records the first in ``page``)
    page_end: Mapped[int | None] = mapped_column(Integer)
    # JSON [[offset, page], ...]: where each later page starts in ``text`` (chunks that span pages)
    page_marks: Mapped[str | None] = mapped_column(Text)
    heading: Mapped[str | None] = mapped_column(Text)
    element_type: Mapped[str | None] = mapped_column(String(64))
    char_start: Mapped[int | None] = mapped_column(Integer)
    char_end: Mapped[int | None] = mapped_column(Integer)
    # JSON {"page": [[x0, top, x1, bottom], ...]}: the merged line boxes (PDF points, origin top
    # left) of what the chunk was made of; NULL for documents ingested without positions
    boxes: Mapped[str | None] = mapped_column(Text)
    # float32 bytes, kept so the indexer (possibly on another machine) and compaction never re-embed.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The same text embedded by the model the collection is being re-embedded with.
    next_vector: Mapped[bytes | None] = mapped_column(LargeBinary)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobDocument(Base):
    """Which documents one ingest request covered (a document seen before joins the new job too)."""

    __tablename__ = "job_documents"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )


class Conversation(Base):
    """A user's chat over one collection; follow-ups are read in its light."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    collection_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Turn(Base):
    """One question and its answer; ``standalone`` is the question as retrieval saw it."""

    __tablename__ = "conversation_turns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    standalone: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[str] = mapped_column(Text, default="[]")  # JSON
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Source(Base):
    """Where a collection's documents live (a folder, a website, a git repository) and when to sync
    them; ``sources.sync`` keeps the collection in step with it."""

    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # folder, web, git
    config: Mapped[str] = mapped_column(Text, default="{}")  # JSON, per kind (sources/config.py)
    # A token for a private host, encrypted with the server's key (core/secrets.py); never shown.
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the schedule next starts a run (None: by hand only).
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # The run in progress holds the source until then (renewed while it works): one run at a
    # time, and a crashed run's hold runs out.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What a kind remembers between runs, JSON (git: the last synced commit).
    state: Mapped[str | None] = mapped_column(Text)


class SourceRun(Base):
    """One sync of a source: what it found and did."""

    __tablename__ = "source_runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, manual, created
    # queued, running, done, failed, interrupted (its worker died; the next run goes on), held
    # (done, but deletions held back until confirmed)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # The ingest job of the documents it queued (GET /jobs/{id} follows them).
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    listed: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    renamed: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # Deletions the run did not carry out because its listing was doubtful (status "held").
    held: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # JSON list of the origins whose deletion it held: what a confirmation may delete.
    held_origins: Mapped[str | None] = mapped_column(Text)
    # Asked by hand to carry out the deletions a held run held back (those still gone).
    confirm_deletions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The held run whose deletions it carries out (the one the person saw when confirming).
    confirms_run: Mapped[str | None] = mapped_column(String(36))
    # JSON [{"origin": ..., "reason": ...}] of the failed ones (the first 200)
    failures: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)


class SourceItem(Base):
    """One thing a source holds, as its last run saw it, and the document it became."""

    __tablename__ = "source_items"
    source_id: Mapped[str] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    # sha256 of the origin (a path or URL can be longer than a key may be)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    origin: Mapped[str] = mapped_column(Text)
    # cheap change test: size + mtime, ETag/Last-Modified, git blob id
    fingerprint: Mapped[str | None] = mapped_column(String(512))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    document_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # True when the sync made the document (it goes when the origin goes); False when the bytes
    # were in the collection already (an upload): that document stays.
    owns: Mapped[bool] = mapped_column(Boolean, default=True)
    # kind-specific, JSON (web: the links of a page, to crawl on when it answers 304)
    meta: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def stale_vectors(collection: str, target: str) -> ColumnElement[bool]:
    """Documents of ``collection`` whose searchable (or about to be) vectors were not made by the
    embedding model ``target``: what a re-embedding with ``target`` must redo."""
    return and_(
        Document.collection_id == collection,
        Document.status.in_([DocStatus.ready, DocStatus.indexing]),
        or_(Document.embedded_with.is_(None), Document.embedded_with != target),
    )


def reembed_progress(s: Session, collection: str, target: str) -> tuple[int, int]:
    """(chunks re-embedded with ``target`` so far, chunks to re-embed) of a collection."""
    base = (
        select(func.count())
        .select_from(Chunk)
        .join(Document, Chunk.document_id == Document.id)
        .where(stale_vectors(collection, target))
    )
    total = s.scalar(base) or 0
    done = s.scalar(base.where(Chunk.next_vector.is_not(None))) or 0
    return done, total


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # pysqlite would BEGIN only before the first write, so a read-then-write session could
    # overwrite what another process committed in between (a cancel lost to a worker's claim):
    # take over transaction control and BEGIN in ``_sqlite_begin``.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    """Writers take SQLite's write lock when they begin (IMMEDIATE): read-modify-write sessions run
    one at a time and never act on a stale read. Readers (``Catalog.reader``) begin DEFERRED and,
    in WAL mode, never wait for a writer."""
    mode = conn.get_execution_options().get("askdocs_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


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
            event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(askdocs_begin="DEFERRED"), expire_on_commit=False
        )

    def create(self) -> Catalog:
        """Make the tables, or migrate them to this code's schema (``core.schema``)."""
        upgrade(self.engine, self.url)
        return self

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reads only (on SQLite it never waits for a writer). Closing ends its
        transaction and detaches what it loaded, still readable after the block."""
        s = self._readers()
        try:
            yield s
        finally:
            s.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error. Where it reads a row to
        change it, it should lock it: ``s.get(..., with_for_update=True)`` (PostgreSQL; SQLite
        writers are serialised when they begin)."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def ensure_collection(self, s: Session, name: str, owner: str | None = None) -> Collection:
        """The collection ``name``, made (owned by ``owner``) if it is not there. Safe when several
        processes make the same one at once (two API replicas starting, two first uploads): the
        insert does nothing where another made it first, and that one is returned."""
        coll = s.get(Collection, name)
        if coll is None:
            insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            s.execute(
                insert(Collection)
                .values(id=name, owner_id=owner)  # the columns' defaults fill the rest
                .on_conflict_do_nothing(index_elements=["id"])
            )
            coll = s.get(Collection, name)
            assert coll is not None
        return coll
