"""A document's and a collection's life through the routes, in process: dedup, replace, delete,
retry, cancel, rename, drop. Each step is checked in the catalog, the index and the blob store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api import documents as document_routes
from core import lifecycle
from core.blob_sweep import sweep_blobs
from core.catalog import Document, utcnow
from core.celery_app import PROCESS_MANY_TASK, PROCESS_TASK
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, sent_ingest_tasks

pytestmark = pytest.mark.service

KILN = b"The kiln at the Harrow studio fires stoneware at 1280 degrees."
GLAZE = b"The Harrow studio glaze is a cobalt blue made from local clay."


def _names(passages: list[dict]) -> list[str]:
    return [p["document_name"] for p in passages]


def _swept(harness: Harness) -> None:
    """The janitor's blob sweep: once to find the unused originals, once past their grace."""
    catalog, blobs, settings = harness.services.catalog, harness.services.blobs, harness.settings
    now = utcnow()
    sweep_blobs(catalog, blobs, settings, now)
    sweep_blobs(catalog, blobs, settings, now + timedelta(seconds=settings.blob_grace_seconds + 1))


def test_the_same_bytes_twice_are_one_document(harness: Harness) -> None:
    first = harness.upload("dedup", ("kiln.txt", KILN))
    again = harness.upload("dedup", ("kiln-copy.txt", KILN))
    assert first["counts"] == {"queued": 1}
    assert [d["duplicate"] for d in again["documents"]] == [True]
    assert again["documents"][0]["id"] == first["documents"][0]["id"]
    harness.work()
    docs = harness.documents("dedup")
    assert [(d["name"], d["status"]) for d in docs] == [("kiln.txt", "ready")]
    assert _names(harness.search("dedup", "kiln stoneware temperature")) == ["kiln.txt"]


def test_one_upload_of_known_failed_repeated_and_new_bytes(harness: Harness) -> None:
    """An upload looks its files up in one go: each still ends as it would alone."""
    ready = harness.upload("mixed", ("kiln.txt", KILN))["documents"][0]
    harness.work()
    failed = _failed_by_an_outage(harness, "mixed", "glaze.txt", GLAZE)
    harness.upload("elsewhere", ("note.txt", b"The same bytes in another collection."))
    job = harness.upload(
        "mixed",
        ("kiln-again.txt", KILN),  # ready already: a duplicate
        ("glaze.txt", GLAZE),  # failed before: run again, the same document
        ("note.txt", b"The same bytes in another collection."),  # new here
        ("note-copy.txt", b"The same bytes in another collection."),  # twice in this upload
    )
    by_id = {d["id"]: d for d in job["documents"]}
    assert len(by_id) == 3  # the note once, though sent twice
    assert by_id[ready["id"]]["duplicate"] and by_id[ready["id"]]["status"] == "ready"
    assert not by_id[failed]["duplicate"] and by_id[failed]["status"] == "queued"
    (note,) = set(by_id) - {ready["id"], failed}
    assert by_id[note]["status"] == "queued" and job["counts"] == {"queued": 2, "ready": 1}
    harness.work()
    assert sorted((d["name"], d["status"]) for d in harness.documents("mixed")) == [
        ("glaze.txt", "ready"),
        ("kiln.txt", "ready"),
        ("note.txt", "ready"),
    ]
    assert len(harness.documents("elsewhere")) == 1


def test_a_new_version_replaces_the_old_one(harness: Harness) -> None:
    first = KILN + b" Version one."  # bytes of this test alone: its original may go
    old = harness.upload("versions", ("studio.txt", first))["documents"][0]
    harness.work()
    new = harness.upload("versions", ("studio.txt", GLAZE))["documents"][0]
    # until the new version is indexed, the old one answers
    assert "1280" in harness.search("versions", "studio")[0]["text"]
    harness.work()
    docs = harness.documents("versions")
    assert [(d["id"], d["status"]) for d in docs] == [(new["id"], "ready")]
    texts = [p["text"] for p in harness.search("versions", "studio kiln glaze")]
    assert texts and all("cobalt" in t for t in texts)
    with harness.services.catalog.reader() as s:
        assert s.get(Document, old["id"]) is None  # forgotten once its vectors left
    _swept(harness)
    assert not harness.services.blobs.path(old["sha256"]).exists()
    assert harness.services.blobs.path(new["sha256"]).exists()


def test_keep_both_numbers_the_second_name(harness: Harness) -> None:
    harness.upload("both", ("notes.txt", KILN))
    harness.upload("both", ("notes.txt", GLAZE), replace="false")
    harness.work()
    assert sorted(d["name"] for d in harness.documents("both")) == ["notes (2).txt", "notes.txt"]


def test_delete_hides_at_once_and_the_indexer_forgets(harness: Harness) -> None:
    doc = harness.upload("deleting", ("kiln.txt", KILN + b" Deleted."))["documents"][0]
    harness.work()
    assert harness.search("deleting", "kiln")
    r = harness.client.delete(f"/documents/{doc['id']}")
    assert r.status_code == 202 and r.json()["status"] == "deleted"
    assert harness.search("deleting", "kiln") == []  # before the indexer ran
    assert harness.client.get(f"/documents/{doc['id']}").status_code == 404
    harness.work()
    with harness.services.catalog.reader() as s:
        assert s.get(Document, doc["id"]) is None
    _swept(harness)
    assert not harness.services.blobs.path(doc["sha256"]).exists()
    # the same bytes again are a new upload, queued and searchable
    again = harness.upload("deleting", ("kiln.txt", KILN + b" Deleted."))
    assert again["counts"] == {"queued": 1}
    harness.work()
    assert _names(harness.search("deleting", "kiln")) == ["kiln.txt"]


def test_a_failed_document_is_retried_and_only_failed_ones_are(harness: Harness) -> None:
    doc = harness.upload("retry", ("empty.txt", b"   \n"))["documents"][0]
    harness.work()
    failed = harness.client.get(f"/documents/{doc['id']}").json()
    assert failed["status"] == "failed" and failed["error_code"] == "empty_document"
    r = harness.client.post(f"/documents/{doc['id']}/retry")
    assert r.status_code == 202 and r.json()["status"] == "queued"
    harness.work()
    assert harness.client.get(f"/documents/{doc['id']}").json()["status"] == "failed"
    ok = harness.upload("retry", ("kiln.txt", KILN))["documents"][0]
    harness.work()
    r = harness.client.post(f"/documents/{ok['id']}/retry")
    assert r.status_code == 409 and r.json()["error"]["type"] == "conflict"
    assert "only failed or cancelled" in r.json()["error"]["message"]


def test_a_collections_failures_are_retried_at_once_by_status_and_code(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(document_routes, "RETRY_STEP", 2)  # several steps in one request
    broker = redis_server.client(SERVICE_REDIS_DB)
    empties = [(f"empty{i}.txt", b" \n" * (i + 1)) for i in range(3)]
    binary = ("program.bin", b"\x7fELF\x02\x01\x01" + bytes(300))
    harness.upload("retry-all", ("kiln.txt", KILN), *empties, binary)
    harness.work()
    cancelled = harness.upload("retry-all", ("glaze.txt", GLAZE))
    harness.client.post(f"/jobs/{cancelled['id']}/cancel")
    docs = {d["name"]: d for d in harness.documents("retry-all")}
    assert docs["program.bin"]["status"] == "failed"
    assert docs["program.bin"]["error_code"] != "empty_document"

    def retry(**body: object) -> int:
        broker.delete("ingest")
        r = harness.client.post("/collections/retry-all/retry", json=body)
        assert r.status_code == 202, r.text
        return r.json()["retried"]

    def statuses() -> dict[str, str]:
        return {d["name"]: d["status"] for d in harness.documents("retry-all")}

    assert retry(codes=["empty_document"]) == 3
    assert {n: s for n, s in statuses().items() if s == "queued"} == {
        n: "queued" for n, _ in empties
    }
    sent = sent_ingest_tasks(broker)  # sent as an upload's: small ones in batches
    assert [t for t, _ in sent] == [PROCESS_MANY_TASK, PROCESS_TASK]  # steps of 2, then 1
    (_, two), (_, one) = sent
    assert sorted([*two, one]) == sorted(docs[n]["id"] for n, _ in empties)  # type: ignore[misc]
    harness.work()
    assert statuses()["empty0.txt"] == "failed"  # they ran again

    assert retry(statuses=["failed"]) == 4
    assert statuses()["glaze.txt"] == "cancelled" and statuses()["kiln.txt"] == "ready"
    harness.work()
    assert retry() == 5  # failed and cancelled
    harness.work()
    assert statuses()["glaze.txt"] == "ready" and statuses()["program.bin"] == "failed"
    assert retry(codes=["no_such_code"]) == 0
    r = harness.client.post("/collections/retry-all/retry", json={"statuses": ["ready"]})
    assert r.status_code == 422
    assert harness.client.post("/collections/no-such-one/retry").status_code == 404
    broker.delete("ingest")


def _failed_by_an_outage(harness: Harness, collection: str, name: str, data: bytes) -> str:
    """Upload ``data`` and fail it as a Redis outage would (bytes that ingest fine when run)."""
    doc_id = harness.upload(collection, (name, data))["documents"][0]["id"]
    with harness.services.catalog.session() as s:
        lifecycle.fail_id(s, doc_id, "unavailable", "gave up after 5 retries")
    return doc_id


def test_an_old_version_uploaded_again_replaces_the_newer_one(harness: Harness) -> None:
    old = _failed_by_an_outage(harness, "revert", "kiln.txt", KILN)
    harness.upload("revert", ("kiln.txt", KILN + b" Since May: 1300 degrees."))
    harness.work()
    again = harness.upload("revert", ("kiln.txt", KILN))["documents"][0]
    assert again["id"] == old and again["status"] == "queued"  # the failed one, restarted
    harness.work()
    ready = [d for d in harness.documents("revert") if d["status"] == "ready"]
    assert [d["id"] for d in ready] == [old]  # one version of the name: the latest upload
    hits = harness.search("revert", "kiln degrees")
    assert _names(hits) == ["kiln.txt"] and "1300" not in hits[0]["text"]


def test_a_failed_version_a_newer_one_replaced_is_not_retried(harness: Harness) -> None:
    old = _failed_by_an_outage(harness, "superseded", "glaze.txt", GLAZE)
    harness.upload("superseded", ("glaze.txt", GLAZE + b" Fired twice."))
    harness.work()
    statuses = {d["id"]: d["status"] for d in harness.documents("superseded")}
    assert statuses[old] == "failed" and sorted(statuses.values()) == ["failed", "ready"]
    r = harness.client.post(f"/documents/{old}/retry")
    assert r.status_code == 409 and "newer version" in r.json()["error"]["message"]
    r = harness.client.post("/collections/superseded/retry")
    assert r.status_code == 202 and r.json()["retried"] == 0
    harness.work()
    hits = harness.search("superseded", "glaze cobalt")
    assert len(hits) == 1 and "Fired twice" in hits[0]["text"]


def test_cancel_drops_what_has_not_run(harness: Harness) -> None:
    job = harness.upload("cancel", ("kiln.txt", KILN), ("glaze.txt", GLAZE))
    r = harness.client.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["counts"] == {"cancelled": 2}
    harness.work()
    assert harness.search("cancel", "kiln glaze") == []
    assert {d["status"] for d in harness.documents("cancel")} == {"cancelled"}


def test_an_upload_into_a_job_lists_its_own_files_and_counts_the_whole_job(
    harness: Harness,
) -> None:
    job = harness.client.post("/jobs", json={"collection": "jobbed"}).json()
    first = harness.upload("jobbed", ("kiln.txt", KILN), job_id=job["id"])
    second = harness.upload("jobbed", ("glaze.txt", GLAZE), job_id=job["id"])
    again = harness.upload("jobbed", ("kiln.txt", KILN), job_id=job["id"])
    assert [d["name"] for d in first["documents"]] == ["kiln.txt"]
    assert [d["name"] for d in second["documents"]] == ["glaze.txt"]  # not the job's others
    assert [(d["name"], d["duplicate"]) for d in again["documents"]] == [("kiln.txt", True)]
    assert second["id"] == job["id"] and second["total"] == 2 and second["counts"] == {"queued": 2}
    whole = harness.client.get(f"/jobs/{job['id']}", params={"documents": "true"}).json()
    assert sorted(d["name"] for d in whole["documents"]) == ["glaze.txt", "kiln.txt"]


def test_rename_moves_documents_and_index(harness: Harness) -> None:
    harness.upload("before", ("kiln.txt", KILN))
    harness.work()
    r = harness.client.patch("/collections/before", json={"name": "after"})
    assert r.status_code == 202 and r.json()["renaming_to"] == "after"  # the indexer moves it
    r = harness.client.patch("/collections/before", json={"name": "elsewhere"})
    assert r.status_code == 409 and "being renamed" in r.json()["error"]["message"]
    harness.work()
    names = {c["name"] for c in harness.client.get("/collections").json()}
    assert "after" in names and "before" not in names
    assert _names(harness.search("after", "kiln")) == ["kiln.txt"]
    assert (
        harness.client.post("/search", json={"collection": "before", "query": "kiln"}).status_code
        == 404
    )


def test_drop_removes_everything_it_held(harness: Harness) -> None:
    kept = harness.upload("keeper", ("kiln.txt", KILN))["documents"][0]
    pots = b"The Harrow studio sells its pots at the Saturday market."
    gone = harness.upload("doomed", ("kiln.txt", KILN), ("pots.txt", pots))["documents"]
    harness.work()
    r = harness.client.delete("/collections/doomed")
    assert r.status_code == 202
    assert (
        harness.client.post("/search", json={"collection": "doomed", "query": "kiln"}).status_code
        == 404
    )
    harness.work()
    with harness.services.catalog.reader() as s:
        assert s.query(Document).filter(Document.collection_id == "doomed").count() == 0
    _swept(harness)
    blobs = harness.services.blobs
    assert blobs.path(kept["sha256"]).exists()  # the same bytes live on in another collection
    only_here = next(d for d in gone if d["name"] == "pots.txt")
    assert not blobs.path(only_here["sha256"]).exists()
    assert not (harness.settings.index_dir / "doomed").exists()


def test_documents_filter_by_name_and_states_and_the_collection_counts_them_all(
    harness: Harness,
) -> None:
    harness.upload(
        "listing",
        ("Q1_report.txt", b"First quarter."),
        ("Q1%report.txt", b"A percent sign in the name."),
        ("notes.txt", b"Meeting notes."),
        ("empty.txt", b""),
    )
    harness.work()

    def names(**params: object) -> set[str]:
        r = harness.client.get("/documents", params={"collection": "listing", **params})
        assert r.status_code == 200, r.text
        return {d["name"] for d in r.json()}

    assert names(name="q1_") == {"Q1_report.txt"}  # any case; "_" is a letter, not a wildcard
    assert names(name="%") == {"Q1%report.txt"}
    assert names(status="failed") == {"empty.txt"}
    assert names(status=["failed", "ready"]) == {
        "Q1_report.txt",
        "Q1%report.txt",
        "notes.txt",
        "empty.txt",
    }
    assert names(name="notes", status="failed") == set()
    (listed,) = [c for c in harness.client.get("/collections").json() if c["name"] == "listing"]
    coll = harness.client.get("/collections/listing").json()
    assert coll == listed
    assert coll["by_status"] == {"ready": 3, "failed": 1}
    assert coll["documents"] == 4 and coll["ready"] == 3
    assert harness.client.get("/collections/no-such-one").status_code == 404
