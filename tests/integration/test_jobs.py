"""Job lifecycle on the real stack: progress numbers, cancel, retry, replace, keep both, check."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from retrieval.segments import Manifest
from tests.integration.conftest import Stack, make_pdf, wait_for, wait_job

pytestmark = pytest.mark.integration


def _upload(api: httpx.Client, collection: str, files: dict[str, bytes], **form: str) -> dict:
    resp = api.post(
        "/documents",
        data={"collection": collection, **form},
        files=[("files", (n, d)) for n, d in files.items()],
    )
    assert resp.status_code == 202, resp.text
    return resp.json()


def _visible(api: httpx.Client, collection: str, query: str) -> list[str]:
    r = api.post("/search", json={"collection": collection, "query": query, "k": 20})
    assert r.status_code == 200, r.text
    return [p["document_id"] for p in r.json()["passages"]]


def test_job_numbers(api: httpx.Client, tmp_path: Path) -> None:
    files = {
        f"n{i}.txt": f"Note {i}: the heron count on day {i} was {i * 7}.".encode() for i in range(5)
    }
    pdf = make_pdf(tmp_path / "herons.pdf", ["Herons nest in April.", "Chicks fledge in June."])
    files["herons.pdf"] = pdf.read_bytes()
    job = _upload(api, "jobs", files)
    assert job["total"] == 6 and job["finished"] <= 6
    done = wait_job(api, job["id"])
    assert done["finished"] == 6 and done["counts"] == {"ready": 6}
    assert done["pages"] == 2  # pages of paged formats (the PDF); text files have none
    assert done["documents_per_s"] > 0 and done["eta_s"] is None
    slim = api.get(f"/jobs/{job['id']}", params={"documents": "false"}).json()
    assert slim["documents"] == [] and slim["counts"] == {"ready": 6}


def test_cancel_stops_what_has_not_finished(api: httpx.Client, stack: Stack) -> None:
    words = [
        "amber",
        "basalt",
        "cobalt",
        "dune",
        "ember",
        "fjord",
        "garnet",
        "harbor",
        "indigo",
        "jade",
    ]
    files = {
        f"c{i}.txt": f"The {w} report says item {w}-{i} is stored in vault {i}.".encode()
        for i, w in enumerate(words)
    }
    job = _upload(api, "cancel", files)
    r = api.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["cancelled_at"]
    done = wait_job(api, job["id"])
    cancelled = [d for d in done["documents"] if d["status"] == "cancelled"]
    assert cancelled, done["counts"]
    assert set(done["counts"]) <= {"ready", "cancelled"}
    for d in cancelled:
        assert d["error_code"] == "cancelled"
        word = d["name"]
        assert d["id"] not in _visible(api, "cancel", files[word].decode())

    def settled() -> bool:  # the indexer may still be applying one that was cancelled mid-way
        return stack.cli("check", "-c", "cancel").returncode == 0

    wait_for(settled, 60, "catalog and indexes to agree after the cancel")
    # a cancelled document can be run again
    again = api.post(f"/documents/{cancelled[0]['id']}/retry")
    assert again.status_code == 202 and again.json()["status"] == "queued"
    wait_for(
        lambda: api.get(f"/documents/{cancelled[0]['id']}").json()["status"] == "ready",
        120,
        "the retried document",
    )
    assert api.post(f"/documents/{cancelled[0]['id']}/retry").status_code == 409


def test_new_version_replaces_the_old_one_atomically(api: httpx.Client) -> None:
    v1 = _upload(api, "replace", {"policy.txt": b"The Lindholm office opens at 8 am on weekdays."})
    (old,) = wait_job(api, v1["id"])["documents"]
    seen: list[list[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(_visible(api, "replace", "When does the Lindholm office open?"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        v2 = _upload(
            api, "replace", {"policy.txt": b"The Lindholm office opens at 10 am on weekdays."}
        )
        (new,) = wait_job(api, v2["id"])["documents"]
        after = len(seen)
        wait_for(lambda: len(seen) >= after + 5, 30, "a few more searches after the switch")
    finally:
        stop.set()
        watcher.join()
    assert new["status"] == "ready" and new["id"] != old["id"]
    assert api.get(f"/documents/{old['id']}").status_code == 404
    assert len(seen) > 5
    assert all(len(v) == 1 for v in seen), [v for v in seen if len(v) != 1][:3]
    assert seen[0] == [old["id"]] and seen[-1] == [new["id"]]
    names = [d["name"] for d in api.get("/documents", params={"collection": "replace"}).json()]
    assert names == ["policy.txt"]


def test_folder_sync_and_check_repair(stack: Stack, api: httpx.Client, tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "one.txt").write_text("Folder one: the kiln fires at 1200 degrees.")
    (folder / "a" / "two.txt").write_text("Folder two: the glaze is cobalt blue.")
    (folder / "three.txt").write_text("Folder three: the studio closes at 6 pm.")
    out = stack.cli("ingest", str(folder), "-c", "tree")
    assert out.returncode == 0 and "3 ready, 0 failed" in out.stdout, out.stdout + out.stderr
    (folder / "a" / "two.txt").unlink()
    out = stack.cli("ingest", str(folder), "-c", "tree", "--sync")
    assert out.returncode == 0 and "2 unchanged, 1 removed" in out.stdout, out.stdout
    names = sorted(d["name"] for d in api.get("/documents", params={"collection": "tree"}).json())
    assert names == ["a/one.txt", "three.txt"]
    wait_for(lambda: stack.cli("check", "-c", "tree").returncode == 0, 60, "a clean check")

    # break it: the vector segments vanish, and a failed document keeps a chunk row
    segments = list((stack.data_dir / "index" / "tree").glob("seg-*.faiss"))
    assert segments
    for path in segments:
        path.unlink()
    db = sqlite3.connect(stack.data_dir / "catalog.db")
    doc_id = api.get("/documents", params={"collection": "tree"}).json()[0]["id"]
    (cid,) = db.execute("SELECT id FROM chunks WHERE document_id = ?", (doc_id,)).fetchone()
    db.execute(
        "INSERT INTO documents (id, collection_id, name, size_bytes, status, attempts, version,"
        " created_at, updated_at) VALUES ('f' || substr(?, 2), 'tree', 'broken.txt', 1, 'failed',"
        " 1, 1, datetime('now'), datetime('now'))",
        (doc_id,),
    )
    db.execute(
        "INSERT INTO chunks (id, document_id, ordinal, text) VALUES (?, 'f' || substr(?, 2), 0, 'x')",
        (cid + 1, doc_id),
    )
    db.commit()
    db.close()
    broken = "f" + doc_id[1:]  # a row of before content hashes: its original is named by its id
    (stack.data_dir / "blobs" / broken[:2]).mkdir(exist_ok=True)
    (stack.data_dir / "blobs" / broken[:2] / broken).write_bytes(b"x")
    out = stack.cli("check", "-c", "tree")
    assert out.returncode == 1
    assert (
        f"tree: PROBLEM (missing vectors 2, leftover chunks 1, unreadable segment files "
        f"{len(segments)})" in out.stdout
    ), out.stdout
    out = stack.cli("check", "-c", "tree", "--repair")
    assert out.returncode == 0, out.stdout + out.stderr
    assert stack.cli("check", "-c", "tree").returncode == 0
    assert _visible(api, "tree", "kiln fires degrees")  # searchable again


def test_deleting_a_collection_removes_everything_it_held(api: httpx.Client, stack: Stack) -> None:
    text = b"The Quillon archive keeps 19 ledgers in its east vault."
    job = _upload(api, "doomed", {"ledgers.txt": text, "shared.txt": b"Shared note about tides."})
    _upload(api, "keeper", {"shared.txt": b"Shared note about tides."})  # same bytes elsewhere
    docs = wait_job(api, job["id"])["documents"]
    assert {d["status"] for d in docs} == {"ready"}
    assert _visible(api, "doomed", "How many ledgers does the Quillon archive keep?")
    r = api.delete("/collections/doomed")
    assert r.status_code == 202
    # gone at once: listings, search, documents, a new collection of that name
    assert "doomed" not in [c["name"] for c in api.get("/collections").json()]
    assert api.post("/search", json={"collection": "doomed", "query": "ledgers"}).status_code == 404
    assert all(api.get(f"/documents/{d['id']}").status_code == 404 for d in docs)
    assert api.delete("/collections/default").status_code == 409
    index = stack.data_dir / "index" / "doomed"
    wait_for(lambda: not index.exists(), 60, "the indexer to drop the collection's index files")
    wait_for(
        lambda: api.post("/collections", json={"name": "doomed"}).status_code == 201,
        60,
        "the name to be free again",
    )
    assert _visible(api, "doomed", "How many ledgers does the Quillon archive keep?") == []
    blobs = stack.data_dir / "blobs"
    ledgers = hashlib.sha256(text).hexdigest()
    shared = hashlib.sha256(b"Shared note about tides.").hexdigest()
    # its only user is gone: the janitor's blob sweep removes it after the grace period
    gone = blobs / ledgers[:2] / ledgers
    wait_for(lambda: not gone.exists(), 60, "the blob sweep to remove the original")
    assert (blobs / shared[:2] / shared).exists()  # still used by "keeper"
    assert stack.cli("check").returncode == 0


def test_renaming_a_collection_moves_everything(api: httpx.Client, stack: Stack) -> None:
    text = b"The Varrow lighthouse keeps 23 lamps burning through the winter storms."
    job = _upload(api, "beacon", {"lamps.txt": text})
    (doc,) = wait_job(api, job["id"])["documents"]
    assert doc["status"] == "ready"
    question = "How many lamps does the Varrow lighthouse keep?"
    assert _visible(api, "beacon", question) == [doc["id"]]
    assert api.patch("/collections/default", json={"name": "x"}).status_code == 409
    assert api.patch("/collections/beacon", json={"name": "keeper-taken"}).status_code == 200
    # renamed: the old name is gone everywhere, the new one holds the same document and index
    r = api.patch("/collections/keeper-taken", json={"name": "lighthouse"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "lighthouse" and r.json()["ready"] == 1
    names = [c["name"] for c in api.get("/collections").json()]
    assert "lighthouse" in names and "keeper-taken" not in names
    assert api.post("/search", json={"collection": "keeper-taken", "query": "x"}).status_code == 404
    assert _visible(api, "lighthouse", question) == [doc["id"]]
    assert api.get(f"/documents/{doc['id']}").json()["collection"] == "lighthouse"
    db = sqlite3.connect(stack.data_dir / "catalog.db")
    (listed,) = db.execute("SELECT segments FROM collections WHERE id = 'lighthouse'").fetchone()
    db.close()
    moved = Manifest.from_json(listed)  # the index files moved with it
    assert moved.segments and all(
        (stack.data_dir / "index" / "lighthouse" / f).exists() for f in moved.files
    )
    # the same bytes again are the same document; a new collection under the old name is separate
    again = _upload(api, "lighthouse", {"copy.txt": text})
    assert [d["id"] for d in wait_job(api, again["id"])["documents"]] == [doc["id"]]
    fresh = _upload(api, "beacon", {"lamps.txt": text})
    (other,) = wait_job(api, fresh["id"])["documents"]
    assert other["status"] == "ready" and other["id"] != doc["id"]
    assert _visible(api, "beacon", question) == [other["id"]]
    assert _visible(api, "lighthouse", question) == [doc["id"]]
    # a taken name is refused, and the index agrees with the catalog afterwards
    assert api.patch("/collections/beacon", json={"name": "lighthouse"}).status_code == 409
    out = stack.cli("check")
    assert out.returncode == 0, out.stdout + out.stderr
