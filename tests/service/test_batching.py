"""An ingest process takes several small queued documents together: each is parsed alone and fails
alone, their chunks are embedded in one go, and each document's vectors are its own."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from celery import current_app
from sqlalchemy import event, select

from core import celery_app
from core.catalog import Chunk, DocStatus, Document, utcnow
from core.celery_app import APPLY_TASK, PROCESS_MANY_TASK, PROCESS_TASK, TaskOutOfTime
from ingest import parsing, sandbox
from ingest.pipeline import IngestContext, process_document, process_documents
from ingest.types import ParsedDocument
from retrieval import index_tasks, indexer
from retrieval.embedding import passage_text
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, sent_ingest_tasks

pytestmark = pytest.mark.service


def _note(i: int) -> tuple[str, bytes]:
    return f"note{i}.txt", f"Note {i} is about topic number {i}: turbines and orchards.\n".encode()


def _documents(h: Harness, collection: str) -> dict[str, Document]:
    with h.services.catalog.reader() as s:
        docs = s.scalars(select(Document).where(Document.collection_id == collection)).all()
        return {d.name: d for d in docs}


def _context(h: Harness, sent: list[str], **settings: object) -> IngestContext:
    return dataclasses.replace(
        h.ingest,
        settings=h.settings.model_copy(update=settings),
        enqueue_process=sent.append,
    )


def _oldest(h: Harness, collection: str) -> str:
    with h.services.catalog.reader() as s:
        return s.scalars(
            select(Document.id)
            .where(Document.collection_id == collection)
            .order_by(Document.created_at)
            .limit(1)
        ).one()


def test_one_task_ingests_a_batch_where_each_document_fails_alone(harness: Harness) -> None:
    files = [_note(i) for i in range(6)]
    files += [("empty.txt", b""), ("program.bin", b"\x7fELF\x02\x01\x01" + bytes(300))]
    harness.upload("batch", *files)
    sent: list[str] = []

    got = process_document(_context(harness, sent), _documents(harness, "batch")["note0.txt"].id)

    assert got.outcome == "run"
    docs = _documents(harness, "batch")
    assert {n: d.status for n, d in docs.items() if n.startswith("note")} == {
        f"note{i}.txt": DocStatus.indexing for i in range(6)
    }
    assert docs["empty.txt"].status == DocStatus.failed
    assert "empty" in (docs["empty.txt"].error or "")
    assert docs["program.bin"].status == DocStatus.failed
    assert docs["program.bin"].error
    assert sent == []  # nothing was given back
    assert {d.attempts for d in docs.values()} == {1}  # each counted once, as it started
    # each document's vectors are those of its own chunks, embedded alone
    embedder = harness.services.embedder
    with harness.services.catalog.reader() as s:
        for i in range(6):
            rows = s.execute(
                select(Chunk.heading, Chunk.text, Chunk.vector, Document.name)
                .join(Document, Chunk.document_id == Document.id)
                .where(Chunk.document_id == docs[f"note{i}.txt"].id)
            ).all()
            assert rows
            alone = embedder.embed([passage_text(h, t, n) for h, t, _v, n in rows])
            stored = np.stack([np.frombuffer(v, dtype=np.float32) for _h, _t, v, _n in rows])
            np.testing.assert_allclose(stored, alone, atol=1e-4)
    assert harness.work() > 0
    hits = harness.search("batch", "topic number 4", k=1)
    assert hits[0]["document_name"] == "note4.txt"


def test_a_batch_commits_once_per_document_plus_a_fixed_few(harness: Harness) -> None:
    """Per document only its attempt is a transaction of its own: the move to embedding and the
    chunk writes of the whole batch are one transaction each (they were one per document)."""
    n = 8
    harness.upload("commits", *[_note(i) for i in range(n)])
    commits: list[int] = []
    engine = harness.services.catalog.engine
    count = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(engine, "commit", count)
    try:
        got = process_document(_context(harness, []), _oldest(harness, "commits"))
    finally:
        event.remove(engine, "commit", count)
    assert got.outcome == "run"
    assert {d.status for d in _documents(harness, "commits").values()} == {DocStatus.indexing}
    # claim, neighbours' claim, n - 1 attempts, embedding, chunks (+1 for a lease renewal)
    assert len(commits) <= n + 4, len(commits)


def test_batch_leaves_large_leased_and_other_collections_documents_alone(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upload("mixed", *[_note(i) for i in range(3)])
    harness.upload("mixed", ("large.txt", b"large text file. " * 2000))
    harness.upload("elsewhere", _note(9))
    docs = _documents(harness, "mixed")
    leased_until = utcnow() + timedelta(minutes=5)
    with harness.services.catalog.session() as s:
        leased = s.get(Document, docs["note2.txt"].id)
        assert leased is not None
        leased.lease_owner, leased.lease_until = "another-worker", leased_until

    monkeypatch.setattr(celery_app, "INGEST_BATCH_BYTES", 10_000)
    process_document(_context(harness, []), docs["note0.txt"].id)

    docs = _documents(harness, "mixed")
    assert docs["note0.txt"].status == DocStatus.indexing
    assert docs["note1.txt"].status == DocStatus.indexing
    assert docs["note2.txt"].status == DocStatus.queued  # another worker's lease
    assert docs["note2.txt"].lease_owner == "another-worker"
    assert docs["large.txt"].status == DocStatus.queued  # above INGEST_BATCH_BYTES
    assert _documents(harness, "elsewhere")["note9.txt"].status == DocStatus.queued
    with harness.services.catalog.session() as s:
        leased = s.get(Document, docs["note2.txt"].id)
        assert leased is not None
        leased.lease_owner = leased.lease_until = None
    harness.work()
    assert {d.status for d in _documents(harness, "mixed").values()} == {DocStatus.ready}


def test_batch_of_one_takes_no_neighbour(harness: Harness) -> None:
    harness.upload("single", *[_note(i) for i in range(3)])
    process_document(_context(harness, [], ingest_batch_docs=1), _oldest(harness, "single"))
    statuses = sorted(d.status for d in _documents(harness, "single").values())
    assert statuses == sorted([DocStatus.indexing, DocStatus.queued, DocStatus.queued])


def test_documents_a_batch_has_no_time_for_go_back_to_the_queue(harness: Harness) -> None:
    harness.upload("late", *[_note(i) for i in range(4)])
    sent: list[str] = []
    # one more parse, run to its hard limit, would end past the task's soft limit
    ctx = _context(harness, sent, task_soft_time_limit=100, parse_hard_seconds=80)

    process_document(ctx, _oldest(harness, "late"))

    docs = _documents(harness, "late")
    done = [n for n, d in docs.items() if d.status == DocStatus.indexing]
    back = [d for d in docs.values() if d.status == DocStatus.queued]
    assert len(done) == 1 and len(back) == 3
    assert all(d.attempts == 0 and d.lease_owner is None for d in back)  # never started
    assert sorted(sent) == sorted(d.id for d in back)
    harness.work()
    assert {d.status for d in _documents(harness, "late").values()} == {DocStatus.ready}


def test_tasks_of_documents_a_batch_took_skip_them(harness: Harness) -> None:
    harness.upload("taken", *[_note(i) for i in range(4)])
    docs = _documents(harness, "taken")
    sent: list[str] = []
    ctx = _context(harness, sent)
    assert process_document(ctx, docs["note0.txt"].id).outcome == "run"
    before = _documents(harness, "taken")
    assert {d.status for d in before.values()} == {DocStatus.indexing}

    # the other documents' own tasks arrive later: nothing left to do, nothing changed
    for name in ("note1.txt", "note2.txt", "note3.txt"):
        assert process_document(ctx, docs[name].id).outcome == "skip"
    assert process_document(ctx, "no-such-document").outcome == "skip"
    after = _documents(harness, "taken")
    assert {n: (d.status, d.attempts, d.lease_owner) for n, d in after.items()} == {
        n: (d.status, d.attempts, d.lease_owner) for n, d in before.items()
    }
    assert sent == []


def test_a_batch_sends_one_indexer_task_that_indexes_every_waiting_document(
    harness: Harness, monkeypatch
) -> None:
    monkeypatch.setattr(indexer, "APPLY_BATCH", 2)  # several steps in one task
    harness.upload("drain", *[_note(i) for i in range(5)])
    harness.upload("drain", ("note1.txt", b"Note 1, second version: glaciers and ferries.\n"))
    harness.upload("apart", _note(9))
    docs = _documents(harness, "drain")
    to_index: list[str] = []
    ctx = dataclasses.replace(_context(harness, []), enqueue_index=to_index.append)
    assert process_document(ctx, docs["note0.txt"].id).outcome == "run"
    assert process_document(ctx, _documents(harness, "apart")["note9.txt"].id).outcome == "run"
    with harness.services.catalog.reader() as s:
        waiting = s.scalars(
            select(Document.id).where(
                Document.status == DocStatus.indexing,
                Document.collection_id.in_(["drain", "apart"]),
            )
        ).all()
    assert len(waiting) == 7  # six of "drain" (two versions of note1) and one apart
    assert len(to_index) == 2  # one task per batch, not one per document

    harness.indexer.apply(to_index[0])  # the first batch's task

    with harness.services.catalog.reader() as s:
        rows = s.execute(
            select(Document.name, Document.status, Document.collection_id).where(
                Document.status.not_in([DocStatus.deleted]),
                Document.collection_id.in_(["drain", "apart"]),
            )
        ).all()
    drained = sorted((n, st) for n, st, c in rows if c == "drain")
    assert drained == [(f"note{i}.txt", DocStatus.ready) for i in range(5)]  # one note1: the new
    assert [st for _n, st, c in rows if c == "apart"] == [DocStatus.indexing]  # its own task
    hits = harness.search("drain", "glaciers and ferries", k=1)
    assert hits[0]["document_name"] == "note1.txt" and "second version" in hits[0]["text"]
    harness.indexer.apply(to_index[0])  # run again: nothing changes
    assert harness.work() >= 0
    assert {d.status for d in _documents(harness, "apart").values()} == {DocStatus.ready}


def test_a_long_backlog_is_indexed_by_several_apply_tasks(harness: Harness, monkeypatch) -> None:
    """An apply task starts no step once its time is up (its first step always runs) and the
    real task sends itself again for a document still waiting: every step makes whole documents
    ready, and the last task finds none left."""
    monkeypatch.setattr(indexer, "APPLY_BATCH", 2)
    monkeypatch.setattr(index_tasks, "APPLY_TASK_SECONDS", 0)  # one step per task
    harness.upload("backlog", *[_note(i) for i in range(5)])
    to_index: list[str] = []
    ctx = dataclasses.replace(_context(harness, []), enqueue_index=to_index.append)
    assert process_document(ctx, _oldest(harness, "backlog")).outcome == "run"
    assert len(to_index) == 1  # one task for the five
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(current_app, "askdocs_indexer", harness.indexer, raising=False)
    monkeypatch.setattr(
        current_app, "askdocs_enqueue", lambda task, key: sent.append((task, key)), raising=False
    )
    ready_after: list[int] = []
    task_for = to_index[0]
    while True:
        index_tasks.apply.run(task_for)
        statuses = [d.status for d in _documents(harness, "backlog").values()]
        assert set(statuses) <= {DocStatus.ready, DocStatus.indexing}
        ready_after.append(statuses.count(DocStatus.ready))
        if len(sent) < len(ready_after):
            break
        task, task_for = sent[-1]
        assert task == APPLY_TASK and len(sent) < 5
    assert ready_after == [2, 4, 5]  # two, two, then the last one; no further task
    found = harness.search("backlog", "turbines and orchards", k=10)
    assert sorted(p["document_name"] for p in found) == [f"note{i}.txt" for i in range(5)]


def test_small_text_is_parsed_in_the_worker_and_the_rest_in_the_child(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real parse child, watched: a small plain-text note never reaches it (its round trip
    costs more than the parse), an HTML page does, and so does the note when the setting is 0."""
    children: list[str] = []
    real = sandbox.parse_isolated

    def watched(path: Path, name: str, *args: Any, **kwargs: Any) -> ParsedDocument:
        children.append(name)
        return real(path, name, *args, **kwargs)

    monkeypatch.setattr(sandbox, "parse_isolated", watched)
    page = b"<html><body><h1>Pier</h1><p>The ferry to Inishmore leaves at nine.</p></body></html>"
    harness.upload("where", _note(1), ("pier.html", page))
    docs = _documents(harness, "where")
    for doc in docs.values():
        process_document(_context(harness, [], ingest_batch_docs=1), doc.id)
    assert children == ["pier.html"]
    assert {d.status for d in _documents(harness, "where").values()} == {DocStatus.indexing}

    harness.upload("where-off", _note(2))
    note = _documents(harness, "where-off")["note2.txt"]
    monkeypatch.setattr(parsing, "PARSE_IN_PROCESS_BYTES", 0)
    process_document(_context(harness, []), note.id)
    assert children == ["pier.html", "note2.txt"]
    assert harness.work() >= 0
    assert harness.search("where", "ferry to Inishmore", k=1)[0]["document_name"] == "pier.html"
    assert harness.search("where-off", "turbines and orchards", k=1)[0]["document_name"] == (
        "note2.txt"
    )


def test_an_upload_sends_one_task_per_batch_of_small_files(harness: Harness) -> None:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.delete("ingest")
    notes = [_note(i) for i in range(20)]
    large = ("large.txt", b"large text file. " * 20_000)  # above INGEST_BATCH_BYTES
    harness.upload("grouped", *notes[:10], large, *notes[10:])
    docs = _documents(harness, "grouped")
    sent = sent_ingest_tasks(broker)
    broker.delete("ingest")

    assert (PROCESS_TASK, docs["large.txt"].id) in sent
    groups = [ids for task, ids in sent if task == PROCESS_MANY_TASK]
    assert [len(g) for g in groups] == [16, 4]  # ingest_batch_docs, in upload order
    assert [i for g in groups for i in g] == [docs[n].id for n, _ in notes]
    assert len(sent) == 3

    busy = process_documents(harness.ingest, groups[0])
    assert busy == {}
    docs = _documents(harness, "grouped")
    # the group, and 4 more small ones: room in the batch takes neighbours
    assert sum(d.status == DocStatus.indexing for d in docs.values()) == 16
    assert docs["large.txt"].status == DocStatus.queued
    assert {docs[n].attempts for n, _ in notes[:16]} == {1}


def test_a_group_task_fails_each_document_alone_and_hands_back_those_held(
    harness: Harness,
) -> None:
    files = [_note(i) for i in range(4)]
    files += [("empty.txt", b""), ("program.bin", b"\x7fELF\x02\x01\x01" + bytes(300))]
    harness.upload("group", *files)
    docs = _documents(harness, "group")
    ids = [docs[name].id for name, _ in files]
    with harness.services.catalog.session() as s:
        held = s.get(Document, docs["note3.txt"].id)
        assert held is not None
        held.lease_owner, held.lease_until = "another-worker", utcnow() + timedelta(minutes=5)
    released: list[str] = []
    ctx = _context(harness, released)

    busy = process_documents(ctx, ids)

    assert set(busy) == {docs["note3.txt"].id} and 0 < busy[docs["note3.txt"].id] <= 300
    docs = _documents(harness, "group")
    assert {n: docs[n].status for n in ("note0.txt", "note1.txt", "note2.txt")} == {
        f"note{i}.txt": DocStatus.indexing for i in range(3)
    }
    assert docs["empty.txt"].status == docs["program.bin"].status == DocStatus.failed
    assert "empty" in (docs["empty.txt"].error or "") and docs["program.bin"].error
    assert docs["note3.txt"].status == DocStatus.queued and docs["note3.txt"].attempts == 0
    assert {docs[n].attempts for n, _ in files if n != "note3.txt"} == {1}
    assert released == []

    # the same message again (a redelivery) finds the rest done and the held one still held
    assert set(process_documents(ctx, ids)) == {docs["note3.txt"].id}
    with harness.services.catalog.session() as s:
        held = s.get(Document, docs["note3.txt"].id)
        assert held is not None
        held.lease_owner = held.lease_until = None
    assert process_documents(ctx, ids) == {}
    docs = _documents(harness, "group")
    assert docs["note3.txt"].status == DocStatus.indexing
    assert {docs[n].attempts for n, _ in files} == {1}  # nothing was run twice


def _out_of_time_at(monkeypatch: pytest.MonkeyPatch, call: int) -> list[str]:
    """The task's soft time limit passes during the ``call``-th parse (Celery raises it from a
    signal; tests/integration/test_crash.py sends the real one). Returns the names parsed."""
    real = parsing.parse
    names: list[str] = []

    def parse(path: Path, name: str, *args: Any, **kwargs: Any) -> ParsedDocument:
        names.append(name)
        if len(names) == call:
            raise TaskOutOfTime()
        return real(path, name, *args, **kwargs)

    monkeypatch.setattr(parsing, "parse", parse)
    return names


def test_time_running_out_on_a_neighbour_gives_the_whole_batch_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upload("slow-neighbour", *[_note(i) for i in range(4)])
    own = _oldest(harness, "slow-neighbour")
    parsed = _out_of_time_at(monkeypatch, 2)
    sent: list[str] = []

    got = process_document(_context(harness, sent), own)  # the task's own document is not blamed

    assert got.outcome == "run" and len(parsed) == 2
    docs = _documents(harness, "slow-neighbour")
    assert {d.status for d in docs.values()} == {DocStatus.queued}
    assert all(d.lease_owner is None and not d.error for d in docs.values())
    started = {d.id for d in docs.values() if d.attempts == 1}
    assert len(started) == 2 and own in started  # the two it started count one attempt each
    assert sorted(sent) == sorted(d.id for d in docs.values())  # each has a task of its own


def test_time_running_out_on_the_tasks_own_document_is_its_own(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upload("slow-own", *[_note(i) for i in range(3)])
    own = _oldest(harness, "slow-own")
    _out_of_time_at(monkeypatch, 1)
    sent: list[str] = []

    with pytest.raises(TaskOutOfTime):  # the task fails its document as timed out
        process_document(_context(harness, sent), own)

    docs = {d.id: d for d in _documents(harness, "slow-own").values()}
    assert docs[own].status == DocStatus.parsing and own not in sent
    others = [d for i, d in docs.items() if i != own]
    assert {d.status for d in others} == {DocStatus.queued}
    assert sorted(sent) == sorted(d.id for d in others)


def test_time_running_out_in_a_group_gives_every_unfinished_document_back(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [_note(i) for i in range(4)]
    harness.upload("slow-group", *files)
    docs = _documents(harness, "slow-group")
    _out_of_time_at(monkeypatch, 3)
    sent: list[str] = []

    assert process_documents(_context(harness, sent), [docs[n].id for n, _ in files]) == {}

    docs = _documents(harness, "slow-group")
    assert {d.status for d in docs.values()} == {DocStatus.queued}
    assert not any(d.error for d in docs.values())
    assert sorted(sent) == sorted(d.id for d in docs.values())
    assert sorted(d.attempts for d in docs.values()) == [0, 1, 1, 1]
