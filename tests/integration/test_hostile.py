"""Hostile uploads end `failed` with a reason, alone, and the worker keeps working."""

from __future__ import annotations

import io
import re
import zipfile

import httpx
import pytest

from tests.integration.conftest import Stack, wait_job
from tests.unit.test_guards import LAUGHS

pytestmark = pytest.mark.integration


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_bombs_fail_alone_and_the_worker_survives(api: httpx.Client) -> None:
    files = {
        "bomb.docx": _zip(
            {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"\0" * (64 << 20)}
        ),
        "laughs.xml": LAUGHS,
        "laughs.docx": _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": LAUGHS}),
        "fine.txt": b"The ferry to Inishmore leaves at half past nine.",
    }
    assert len(files["bomb.docx"]) < 200_000
    resp = api.post(
        "/documents",
        data={"collection": "hostile"},
        files=[("files", (n, d)) for n, d in files.items()],
    )
    assert resp.status_code == 202, resp.text
    docs = {d["name"]: d for d in wait_job(api, resp.json()["id"])["documents"]}
    assert docs["fine.txt"]["status"] == "ready"
    for name in ("bomb.docx", "laughs.xml", "laughs.docx"):
        assert docs[name]["status"] == "failed", docs[name]
        assert docs[name]["error_code"] == "unsafe", docs[name]
        assert name in docs[name]["error"]
    assert "zip bomb" in docs["bomb.docx"]["error"]
    assert "entities" in docs["laughs.xml"]["error"]
    # nothing of the failures is searchable; the worker still takes new work
    found = api.post("/search", json={"collection": "hostile", "query": "lol", "k": 20}).json()
    assert {p["document_name"] for p in found["passages"]} <= {"fine.txt"}
    again = api.post(
        "/documents",
        data={"collection": "hostile"},
        files=[("files", ("after.txt", b"Still alive after the bombs."))],
    )
    assert wait_job(api, again.json()["id"])["counts"] == {"ready": 1}


def test_hostile_names_are_cleaned_and_stored_by_hash(api: httpx.Client, stack: Stack) -> None:
    resp = api.post(
        "/documents",
        data={"collection": "hostile"},
        files=[
            ("files", ("../../../../tmp/askdocs-escape.txt", b"Path traversal attempt.")),
            ("files", ("\x1b[2Jclear\u202eexe.txt", b"Control characters attempt.")),
        ],
    )
    assert resp.status_code == 202, resp.text
    names = sorted(d["name"] for d in resp.json()["documents"])
    assert names == ["[2Jclearexe.txt", "tmp/askdocs-escape.txt"]
    root = stack.data_dir / "blobs"  # originals in shard folders; the sweep's stamps at the top
    blobs = [p for p in root.rglob("*") if p.is_file() and p.parent != root]
    assert blobs and all(re.fullmatch(r"[0-9a-f]{64}", p.name) for p in blobs), blobs
    assert not any("escape" in str(p) for p in stack.data_dir.rglob("*"))


def test_too_many_files_in_one_request(api: httpx.Client) -> None:
    files = [("files", (f"f{i}.txt", f"file {i}".encode())) for i in range(201)]
    resp = api.post("/documents", data={"collection": "hostile"}, files=files)
    assert resp.status_code == 413 and resp.json()["error"]["type"] == "too_many_files"
