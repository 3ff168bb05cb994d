"""Every change of a document's and a collection's state, in one place.

A document moves queued -> parsing -> embedding (a worker holds its lease) -> indexing (its chunks
wait in the catalog) -> ready (searchable), or ends failed, cancelled or deleted; a deleted one
leaves the catalog once the indexer has taken its vectors out; its original, once no document
has used it for a grace period, goes by the blob sweep (``core.blob_sweep``). A collection is renamed or dropped by the indexer, which moves or
removes its index files in the same step.

The functions that take a ``Session`` change rows in the caller's transaction (so a route, a
worker or the indexer commits its own work with them in one step); the ones that take the
``Catalog`` open their own. Nothing here sends a task: callers enqueue the ids
they get back, after their commit.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from core.catalog import (
    IN_WORKER,
    RESTARTABLE,
    TERMINAL,
    Catalog,
    Chunk,
    Collection,
    Conversation,
    DocStatus,
    Document,
    Job,
    JobDocument,
    KnownDocuments,
    Membership,
    Source,
    SourceItem,
    SourceRun,
    Turn,
    find_document,
    new_document_id,
    utcnow,
)
from core.errors import Conflict

log = logging.getLogger(__name__)

# Every table whose rows name a collection: a rename moves them, a drop deletes them.
COLLECTION_ROWS = (Document, Job, Membership, Conversation, Source)


@dataclass(frozen=True)
class Admitted:
    """An upload's verdict for one file: queued (new or run again) or a live duplicate."""

    document_id: str
    queued: bool
    name: str


def _queue(doc: Document, now: datetime) -> None:
    """Put ``doc`` (back) in the queue: no error, no lease, no attempts, a new version when it ran
    before."""
    if doc.status is not None and doc.enqueued_at is not None:
        doc.version = (doc.version or 1) + 1
    doc.status = DocStatus.queued
    doc.error = doc.error_code = None
    doc.attempts = 0
    doc.lease_owner = doc.lease_until = doc.finished_at = None
    doc.enqueued_at = now


def free_name(s: Session, collection: str, name: str, doc_id: str) -> str:
    """``name``, or ``stem (2).ext``... when a live document of the collection has it already."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 1
    while s.scalar(
        select(Document.id).where(
            Document.collection_id == collection,
            Document.name == candidate,
            Document.id != doc_id,
            Document.status != DocStatus.deleted,
        )
    ):
        n += 1
        candidate = f"{stem} ({n}){dot}{ext}"
    return candidate


def admit(
    s: Session,
    collection: str,
    blob: str,
    name: str,
    size: int,
    *,
    content_type: str | None = None,
    tags: Sequence[str] | None = None,
    parent_id: str | None = None,
    keep_both: bool = False,
    job_ids: Iterable[str] = (),
    known: KnownDocuments | None = None,
) -> Admitted:
    """Queue the stored bytes ``blob`` as a document of ``collection`` named ``name``: a new
    document, or one that was deleted, failed or cancelled before run again. The same bytes live
    in the collection already are no new work (``queued`` False). ``keep_both`` gives the new one a
    numbered name beside a live document of that name (else it replaces it once indexed). The
    document joins ``job_ids`` either way. Call it after ``core.blob_refs.hold`` of ``blob`` in
    the same transaction (nothing may remove the original under the new row). ``known``: read
    once for many files of one transaction (an upload's), kept up to date here."""
    if known is None:
        doc = find_document(s, collection, blob, lock=True)
        doc_id = doc.id if doc is not None else new_document_id(s, collection, blob)
    else:
        doc = known.by_content.get(blob)
        doc_id = (
            doc.id if doc is not None else new_document_id(s, collection, blob, known.taken_ids)
        )
    created = doc is None
    queued = doc is None or doc.status in RESTARTABLE
    if queued:
        if keep_both:
            name = free_name(s, collection, name, doc_id)
        if doc is None:
            doc = Document(
                id=doc_id,
                content_sha256=blob,
                collection_id=collection,
                content_type=content_type,
                size_bytes=size,
            )
            s.add(doc)
        now = utcnow()
        doc.name = name
        doc.parent_id = parent_id
        doc.tags = json.dumps(list(tags)) if tags else None
        # uploaded now: the newest version of its name, even when these bytes were here before
        # (an old version uploaded again replaces the one that replaced it)
        doc.created_at = now
        _queue(doc, now)
        s.flush()
        if known is not None:
            known.by_content[blob] = doc
            known.taken_ids.add(doc_id)
    for job in job_ids:  # a new document is in no job yet
        if created or s.get(JobDocument, (job, doc_id)) is None:
            s.add(JobDocument(job_id=job, document_id=doc_id))
    return Admitted(doc_id, queued, name)


def _superseded() -> ColumnElement[bool]:
    """True for a document that a newer live version of its name (same origin) replaced: run
    again, the old one would be searchable beside it, since a version only ever replaces older
    ones."""
    newer = aliased(Document)
    return exists().where(
        newer.collection_id == Document.collection_id,
        newer.name == Document.name,
        or_(
            and_(newer.source_id.is_(None), Document.source_id.is_(None)),
            newer.source_id == Document.source_id,
        ),
        newer.created_at > Document.created_at,
        newer.status.not_in([DocStatus.deleted, DocStatus.failed, DocStatus.cancelled]),
    )


def retry(s: Session, doc: Document) -> None:
    """Run a failed or cancelled document again from the start."""
    if doc.status not in (DocStatus.failed, DocStatus.cancelled):
        raise Conflict(
            f"{doc.name} is {doc.status}; only failed or cancelled documents are retried"
        )
    if s.scalar(select(_superseded()).where(Document.id == doc.id)):
        raise Conflict(
            f"a newer version of {doc.name} is in the collection; upload this one again to "
            "bring it back"
        )
    _queue(doc, utcnow())


def retry_many(
    s: Session,
    collection: str,
    statuses: Sequence[DocStatus],
    codes: Sequence[str],
    limit: int,
    after: str = "",
) -> list[tuple[str, int]]:
    """Queue again up to ``limit`` of a collection's documents in ``statuses`` (failed and/or
    cancelled) whose id sorts after ``after``, only those failed with one of ``codes`` when given,
    and none that a newer version replaced; locked in id order. Returns their ids and sizes (the
    caller sends their tasks after the commit, and passes the last id to take the next step)."""
    q = select(Document).where(
        Document.collection_id == collection,
        Document.id > after,
        Document.status.in_([x for x in statuses if x in (DocStatus.failed, DocStatus.cancelled)]),
        ~_superseded(),
    )
    if codes:
        q = q.where(Document.error_code.in_(list(codes)))
    docs = s.scalars(q.order_by(Document.id).limit(limit).with_for_update()).all()
    now = utcnow()
    for d in docs:
        _queue(d, now)
    return [(d.id, d.size_bytes) for d in docs]


def resend(docs: Iterable[Document], now: datetime) -> None:
    """Mark documents as sent again (the janitor re-enqueues them; their state is unchanged)."""
    for d in docs:
        d.enqueued_at = now


# -- in a worker -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a document: ``run`` it, ``skip`` it (done, deleted or cancelled),
    wait ``busy`` seconds for another worker's lease, or nothing: ``poison`` failed it."""

    outcome: Literal["run", "skip", "busy", "poison"]
    wait: float = 0.0
    # what a ``run`` needs of the document, read in the claim's transaction
    name: str = ""
    size: int = 0
    blob: str = ""


def past_worker(s: Session, document_id: str) -> bool:
    """The document is gone or beyond the ingest workers (a batch of another task finished it,
    it was deleted or cancelled): its task has nothing to do. A read, without the write lock
    ``claim`` takes: most tasks of small documents find their document done by a batch."""
    status = s.scalar(select(Document.status).where(Document.id == document_id))
    return status is None or status not in IN_WORKER


def in_worker(s: Session, document_ids: Sequence[str]) -> list[str]:
    """Those of ``document_ids`` still for the ingest workers (``past_worker`` for many, in one
    read), in the order given."""
    if not document_ids:
        return []
    live = set(
        s.scalars(
            select(Document.id).where(
                Document.id.in_(list(document_ids)), Document.status.in_(list(IN_WORKER))
            )
        )
    )
    return [i for i in document_ids if i in live]


def claim(
    s: Session,
    document_id: str,
    owner: str,
    lease: timedelta,
    max_attempts: int,
    count: bool = True,
    locked: Mapping[str, Document] | None = None,
) -> Claim:
    """Take the lease on a runnable document, counting the attempt (``count``; a batch counts
    each of its other documents when it starts on it, ``attempt``); refuse one leased by a live
    worker; fail one that has used up its attempts (each attempt that ended without a verdict
    was a crash: the worker died, or was killed for memory or time). ``locked``: the rows this
    transaction already locked and loaded (``lock_documents``), read instead of the catalog."""
    now = utcnow()
    doc = _locked(s, document_id, locked)
    if doc is None or doc.status not in IN_WORKER:
        return Claim("skip")
    if doc.lease_owner not in (None, owner) and doc.lease_until and doc.lease_until > now:
        return Claim("busy", (doc.lease_until - now).total_seconds())
    if doc.attempts >= max_attempts:
        fail(
            s,
            doc,
            "worker_lost",
            f"processing {doc.name} stopped {doc.attempts} times without an answer (the worker "
            "crashed or was killed, e.g. out of memory); it is not tried again on its own. "
            "Check the file, then retry it.",
        )
        return Claim("poison")
    doc.status = DocStatus.parsing
    doc.attempts += 1 if count else 0
    doc.error = doc.error_code = None
    doc.lease_owner, doc.lease_until = owner, now + lease
    doc.started_at = doc.started_at or now
    return Claim("run", name=doc.name, size=doc.size_bytes, blob=doc.blob)


def neighbours(
    s: Session, collection: str, exclude: str, max_bytes: int, limit: int
) -> list[Document]:
    """Up to ``limit`` other queued documents of ``collection`` no larger than ``max_bytes`` and
    leased by nobody, newest first, locked: a worker takes them into its batch. The newest are the
    far end of the task queue, so the other workers, taking tasks from its head, seldom meet them."""
    if limit <= 0:
        return []
    now = utcnow()
    return list(
        s.scalars(
            select(Document)
            .where(
                Document.collection_id == collection,
                Document.status == DocStatus.queued,
                Document.id != exclude,
                Document.size_bytes <= max_bytes,
                or_(Document.lease_until.is_(None), Document.lease_until <= now),
            )
            .order_by(Document.created_at.desc())
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )


def release(s: Session, document_id: str, owner: str) -> bool:
    """Give back a document ``owner`` claimed but will not finish (a batch that ran out of time):
    it is queued again. False when it is no longer theirs."""
    doc = owned(s, document_id, owner)
    if doc is None:
        return False
    doc.status = DocStatus.queued
    doc.lease_owner = doc.lease_until = None
    return True


def attempt(s: Session, document_id: str, owner: str) -> bool:
    """Count the attempt of a document ``owner`` claimed without counting (a batch's other
    documents, as it starts on each: a crash then counts against that document only). False when
    it is no longer theirs. One statement: a batch runs it once per document."""
    counted = s.execute(
        update(Document)
        .where(
            Document.id == document_id,
            Document.lease_owner == owner,
            Document.status.in_(list(IN_WORKER)),
        )
        .values(attempts=Document.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(counted.rowcount)  # type: ignore[attr-defined]


def lock_documents(s: Session, document_ids: Sequence[str]) -> dict[str, Document]:
    """Lock the rows of ``document_ids`` in id order, and load them (by id; a deleted one is
    missing): ``claim``, ``owned`` and ``advance`` then read them from here (``locked``) instead
    of one query each. A transaction that changes several documents takes their locks here first:
    two that took them in different orders could each wait for the other (a worker's batch write
    and its lease renewal, say)."""
    if not document_ids:
        return {}
    rows = s.scalars(
        select(Document)
        .where(Document.id.in_(list(document_ids)))
        .order_by(Document.id)
        .with_for_update()
    ).all()
    return {d.id: d for d in rows}


def _locked(s: Session, document_id: str, locked: Mapping[str, Document] | None) -> Document | None:
    """The document, locked: from ``locked`` where the transaction holds it, else read."""
    if locked is not None and document_id in locked:
        return locked[document_id]
    return s.get(Document, document_id, with_for_update=True)


def renew_all(s: Session, document_ids: Sequence[str], owner: str, lease: timedelta) -> set[str]:
    """Extend ``owner``'s lease on each of ``document_ids``; the ids that are still theirs."""
    if not document_ids:
        return set()
    lock_documents(s, document_ids)
    s.execute(
        update(Document)
        .where(Document.id.in_(list(document_ids)), Document.lease_owner == owner)
        .values(lease_until=utcnow() + lease)
    )
    return set(
        s.scalars(
            select(Document.id).where(
                Document.id.in_(list(document_ids)), Document.lease_owner == owner
            )
        ).all()
    )


def owned(
    s: Session, document_id: str, owner: str, locked: Mapping[str, Document] | None = None
) -> Document | None:
    """The document, locked, while ``owner`` still holds it in a worker state; else None (it was
    deleted, cancelled or taken over: the worker stops). ``locked`` as for ``claim``."""
    doc = _locked(s, document_id, locked)
    if doc is None or doc.status not in IN_WORKER or doc.lease_owner != owner:
        return None
    return doc


def advance(
    s: Session,
    document_id: str,
    owner: str,
    status: DocStatus,
    locked: Mapping[str, Document] | None = None,
    **fields: object,
) -> bool:
    """Move a document ``owner`` still holds to ``status`` (parsing or embedding), setting
    ``fields`` (pages, pages_done); False when it is no longer theirs. ``locked`` as for
    ``claim``."""
    doc = owned(s, document_id, owner, locked)
    if doc is None:
        return False
    doc.status = status
    for k, v in fields.items():
        setattr(doc, k, v)
    return True


def to_indexing(doc: Document, model_label: str, chunk_count: int) -> None:
    """The worker wrote ``doc``'s chunks: hand it to the indexer."""
    doc.status = DocStatus.indexing
    doc.embedded_with = model_label
    doc.chunk_count = chunk_count
    doc.lease_owner = doc.lease_until = None


def discard_chunks(s: Session, document_id: str) -> None:
    """Drop a document's chunk rows (it was cancelled or failed: nothing of it may be indexed)."""
    s.execute(delete(Chunk).where(Chunk.document_id == document_id))


def fail(s: Session, doc: Document, code: str, message: str) -> None:
    """End ``doc`` in ``failed``: reason, end time, no lease, no pending chunk rows."""
    doc.status = DocStatus.failed
    doc.error_code, doc.error = code, message
    doc.finished_at, doc.lease_owner, doc.lease_until = utcnow(), None, None
    discard_chunks(s, doc.id)


def fail_id(s: Session, document_id: str, code: str, message: str) -> None:
    """Fail a document unless it was deleted or cancelled meanwhile."""
    doc = s.get(Document, document_id, with_for_update=True)
    if doc is not None and doc.status not in (DocStatus.deleted, DocStatus.cancelled):
        fail(s, doc, code, message)


# -- by a person ---------------------------------------------------------------------------------


def cancel_job(s: Session, job: Job, by: str) -> list[str]:
    """Stop a job's unfinished documents (queued ones are dropped, running ones stop at their next
    step; nothing of them becomes searchable). Returns their ids."""
    now = utcnow()
    job.cancelled_at = job.cancelled_at or now
    members = select(JobDocument.document_id).where(JobDocument.job_id == job.id)
    running = s.scalars(
        select(Document)
        .where(Document.id.in_(members), Document.status.not_in(TERMINAL))
        .with_for_update()
    ).all()
    for d in running:
        d.status = DocStatus.cancelled
        d.error_code, d.error = "cancelled", f"cancelled by {by}"
        d.finished_at, d.lease_owner, d.lease_until = now, None, None
    ids = [d.id for d in running]
    if ids:
        s.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))
    return ids


def delete_document(s: Session, doc: Document) -> list[str]:
    """Hide ``doc`` (and an e-mail's attachments) from search at once; the indexer takes their
    vectors out next. Returns the ids to send to it."""
    doc.status = DocStatus.deleted
    children = s.scalars(
        select(Document).where(Document.parent_id == doc.id, Document.status != DocStatus.deleted)
    ).all()
    for child in children:
        child.status = DocStatus.deleted
    return [doc.id, *(c.id for c in children)]


def delete_collection(s: Session, coll: Collection) -> datetime:
    """Hide a collection and its documents at once; the indexer drops it next (``drop``)."""
    coll.deleted_at = when = utcnow()
    s.execute(
        update(Document)
        .where(Document.collection_id == coll.id, Document.status != DocStatus.deleted)
        .values(status=DocStatus.deleted, error="its collection was deleted")
    )
    return when


def name_in_use(s: Session, name: str) -> bool:
    """A collection has the name, or a rename to it is pending."""
    if s.get(Collection, name) is not None:
        return True
    return s.scalar(select(Collection.id).where(Collection.renaming_to == name)) is not None


def request_rename(s: Session, coll: Collection, new: str) -> None:
    """Ask the indexer to rename ``coll`` to ``new`` (``rename`` does it)."""
    if coll.renaming_to is not None:
        raise Conflict(f"{coll.id} is being renamed to {coll.renaming_to}")
    if name_in_use(s, new):
        raise Conflict(f"the name {new!r} is taken")
    coll.renaming_to = new


def wait_renamed(catalog: Catalog, old: str, new: str, seconds: float) -> bool:
    """Wait up to ``seconds`` for the indexer to rename ``old`` to ``new``: True once it did,
    False while it is still pending; Conflict when the indexer cancelled it (the name was taken
    meanwhile)."""
    deadline = time.monotonic() + seconds
    while True:
        with catalog.reader() as s:
            if s.get(Collection, new) is not None and s.get(Collection, old) is None:
                return True
            coll = s.get(Collection, old)
            if coll is not None and coll.renaming_to is None:
                raise Conflict(f"the name {new!r} was taken meanwhile")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)  # the indexer works between our reads


# -- in the indexer --------------------------------------------------------------------------------


def make_ready(s: Session, doc: Document, replaces: Iterable[str], now: datetime) -> list[str]:
    """``doc``'s vectors are in the index: it is ``ready``, and the earlier versions of its name
    (``replaces``) are deleted in the same transaction, so exactly one version is searchable at
    every moment. Returns the replaced ids (the caller forgets them after its commit)."""
    doc.status = DocStatus.ready
    doc.finished_at = now
    gone: list[str] = []
    for old_id in replaces:
        old = s.get(Document, old_id, with_for_update=True)
        if old is None or old.status in (DocStatus.deleted, DocStatus.failed):
            continue
        # ready ones left the index with this step; ones still in a worker stop at their next step
        old.status = DocStatus.deleted
        old.error = f"replaced by a newer upload of {doc.name}"
        old.finished_at = now
        gone.append(old_id)
    return gone


def pending_rename(s: Session, coll: Collection | None) -> str | None:
    """The name ``coll`` is to be renamed to now, or None: no rename pending, or one cancelled
    here because the collection was deleted or the name taken meanwhile."""
    if coll is None or coll.renaming_to is None:
        return None
    new = coll.renaming_to
    if coll.deleted_at is not None or s.get(Collection, new) is not None:
        log.warning("rename of %s to %s cancelled: the name is taken", coll.id, new)
        coll.renaming_to = None
        return None
    return new


def rename(s: Session, old: Collection, new: str) -> Collection:
    """Move ``old`` and every row that names it to ``new`` (the caller moves the index files in the
    same step). Documents keep their ids; the generation moves so readers reload."""
    moved = Collection(
        id=new,
        created_at=old.created_at,
        embedding_model=old.embedding_model,
        embedding_dim=old.embedding_dim,
        reembed_to=old.reembed_to,
        reembed_at=old.reembed_at,
        index_generation=old.index_generation + 1,
        segments=old.segments,
        owner_id=old.owner_id,
    )
    s.add(moved)
    s.flush()
    for model in COLLECTION_ROWS:
        s.execute(
            update(model)
            .where(model.collection_id == old.id)
            .values(collection_id=new)
            .execution_options(synchronize_session=False)
        )
    s.delete(old)
    s.flush()
    return moved


def forget(catalog: Catalog, document_id: str) -> bool:
    """A deleted document whose vectors are out of the index leaves the catalog. Its original
    stays: the blob sweep (``core.blob_sweep``) removes it once no document has used it for a
    grace period. False when it is not (or no longer) deleted."""
    with catalog.session() as s:
        doc = s.get(Document, document_id, with_for_update=True)
        if doc is None or doc.status != DocStatus.deleted:
            return False
        collection = doc.collection_id
        s.execute(delete(Chunk).where(Chunk.document_id == document_id))
        s.delete(doc)
        coll = s.get(Collection, collection)
        if coll is not None:
            coll.index_generation += 1
    return True


# Documents (with their chunks) or other rows deleted per transaction when a collection is dropped.
DROP_STEP = 200


def drop(catalog: Catalog, collection: str, step: int | None = None) -> int:
    """A deleted collection's rows go (documents, chunks, jobs, memberships, conversations,
    sources), ``step`` at a time in short transactions, and the collection's row last: stopped
    half-way, it is run again from where it stopped. Each step first reads that the collection is
    still marked deleted: a run that comes late (a task sent twice) stops where another ended the
    drop and the name was made again. The originals stay for the blob sweep. The caller removed
    the index files first. Returns how many documents it deleted.

    :param step: rows per transaction (default ``DROP_STEP``)."""
    step = step or DROP_STEP
    documents = 0
    while True:
        with catalog.session() as s:
            if not _marked_deleted(s, collection):
                return documents  # ended by another run, and the name maybe made again
            ids = list(
                s.scalars(
                    select(Document.id).where(Document.collection_id == collection).limit(step)
                )
            )
            _delete_documents(s, ids)
        documents += len(ids)
        if len(ids) < step:
            break
    _drop_in_steps(
        catalog,
        collection,
        select(Conversation.id).where(Conversation.collection_id == collection),
        step,
        lambda s, ids: (
            s.execute(delete(Turn).where(Turn.conversation_id.in_(ids))),
            s.execute(delete(Conversation).where(Conversation.id.in_(ids))),
        ),
    )
    with catalog.reader() as s:
        sources = list(s.scalars(select(Source.id).where(Source.collection_id == collection)))
    for source in sources:
        _drop_in_steps(
            catalog,
            collection,
            select(SourceItem.key).where(SourceItem.source_id == source),
            step,
            lambda s, keys, source=source: s.execute(
                delete(SourceItem).where(SourceItem.source_id == source, SourceItem.key.in_(keys))
            ),
        )
        _drop_in_steps(
            catalog,
            collection,
            select(SourceRun.id).where(SourceRun.source_id == source),
            step,
            lambda s, ids: s.execute(delete(SourceRun).where(SourceRun.id.in_(ids))),
        )
    with catalog.session() as s:
        if not _marked_deleted(s, collection):
            return documents
        # what came in meanwhile (a sync run of the collection finishing a step), then the rest
        late = list(s.scalars(select(Document.id).where(Document.collection_id == collection)))
        _delete_documents(s, late)
        jobs = select(Job.id).where(Job.collection_id == collection)
        s.execute(delete(JobDocument).where(JobDocument.job_id.in_(jobs)))
        for model in (Job, Membership, Conversation, Source):
            s.execute(delete(model).where(model.collection_id == collection))
        s.execute(
            delete(Collection).where(
                Collection.id == collection, Collection.deleted_at.is_not(None)
            )
        )
    return documents + len(late)


def _marked_deleted(s: Session, collection: str) -> bool:
    """The collection ``collection`` is there, marked deleted (read without a lock: a writer
    holding a document of it may be about to update its row)."""
    return bool(
        s.scalar(
            select(Collection.id).where(
                Collection.id == collection, Collection.deleted_at.is_not(None)
            )
        )
    )


def _delete_documents(s: Session, ids: list[str]) -> None:
    """Documents' rows and what hangs on them (chunks, job entries)."""
    if ids:
        s.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))
        s.execute(delete(JobDocument).where(JobDocument.document_id.in_(ids)))
        s.execute(delete(Document).where(Document.id.in_(ids)))


def _drop_in_steps(
    catalog: Catalog,
    collection: str,
    keys: Select[tuple[str]],
    step: int,
    remove: Callable[[Session, list[str]], object],
) -> None:
    """``remove`` the rows ``keys`` selects, ``step`` keys per transaction, until none is left
    (or ``collection`` is no longer marked deleted)."""
    while True:
        with catalog.session() as s:
            if not _marked_deleted(s, collection):
                return
            found = list(s.scalars(keys.limit(step)))
            if found:
                remove(s, found)
        if len(found) < step:
            return


def new_job_id() -> str:
    return str(uuid.uuid4())
