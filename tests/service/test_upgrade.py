"""A catalog made by the last released schema (askdocs 0.1, before Alembic: its tables as that
version's ``create_all`` made them, in tests/fixtures/catalog-0.1.sql) is migrated at start, and
every document it held is searchable after, with the same passages."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, select

from askdocs.backup import before_upgrade
from core import schema
from core.catalog import Catalog, Chunk
from core.settings import Settings
from retrieval.index_store import collection_dir
from retrieval.lexical_index import FORMAT_FILE, LEXICAL_FORMAT, LexicalDoc, LexicalIndex
from retrieval.vector_index import VectorIndex, index_file
from tests.service.conftest import in_process

pytestmark = pytest.mark.service

RELEASED = Path(__file__).parent.parent / "fixtures" / "catalog-0.1.sql"
DOCS = {
    "kiln.txt": b"The kiln at the Harrow studio fires stoneware at 1280 degrees.",
    "ferry.md": b"# Ferries\n\nThe Lindqvist ferry leaves the north pier at 07:40 on weekdays.",
    "bees.txt": b"Honey bees in the Oster valley forage on heather until late September.",
}
QUERIES = {
    "kiln.txt": "kiln stoneware temperature",
    "ferry.md": "when does the ferry leave the pier",
    "bees.txt": "what do the bees forage on",
}


def _names(found: list[dict]) -> list[str]:
    return [p["document_name"] for p in found]


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def test_a_released_catalog_is_migrated_and_everything_stays_searchable(tmp_path: Path) -> None:
    made = tmp_path / "made"
    with in_process(made) as h:
        h.upload("archive", *DOCS.items())
        h.work()
        before = {name: h.search("archive", q, k=3) for name, q in QUERIES.items()}
    assert {name: found[0]["document_name"] for name, found in before.items()} == {
        name: name for name in DOCS
    }

    # the same rows in a catalog of the released schema: what that version left on disk
    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(old / "catalog.db")
    db.executescript(RELEASED.read_text())
    assert "page_end" not in _columns(db, "chunks")
    db.execute("ATTACH DATABASE ? AS made", (str(made / "catalog.db"),))
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        cols = ", ".join(f'"{c}"' for c in _columns(db, table))
        db.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM made.{table}")
    db.commit()
    db.execute("DETACH DATABASE made")
    db.close()
    shutil.copytree(made / "index", old / "index")
    shutil.copytree(made / "blobs", old / "blobs")
    # 0.1 kept a collection's vectors in one file (no segments): write it from the catalog's vectors
    archive = old / "index" / "archive"
    for segment_file in archive.glob("seg-*"):
        segment_file.unlink()
    db = sqlite3.connect(old / "catalog.db")
    rows = db.execute("SELECT id, vector FROM chunks").fetchall()
    (label,) = db.execute("SELECT embedding_model FROM collections WHERE id = 'archive'").fetchone()
    db.close()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    VectorIndex.build(ids, vectors, vectors.shape[1], 10**9).save(archive, label)

    with in_process(old) as h:
        with h.services.catalog.engine.connect() as conn:
            assert schema.current(conn) == schema.head()
            chunk_cols = {c["name"] for c in inspect(conn).get_columns("chunks")}
        assert {"page_end", "page_marks"} <= chunk_cols
        docs = h.documents("archive")
        assert sorted((d["name"], d["status"]) for d in docs) == sorted(
            (name, "ready") for name in DOCS
        )
        after = {name: h.search("archive", q, k=3) for name, q in QUERIES.items()}
        # the first write after the upgrade moves the collection's vectors into segments
        h.upload("archive", ("owls.txt", b"Barn owls nest in the old mill above the Oster weir."))
        h.work()
        assert _names(h.search("archive", "where do the barn owls nest", k=1)) == ["owls.txt"]
        assert _names(h.search("archive", QUERIES["kiln.txt"], k=1)) == ["kiln.txt"]
        assert not (old / "index" / "archive" / index_file(label)).exists()
    strip = lambda found: [(p["document_name"], p["text"]) for p in found]  # noqa: E731
    assert {n: strip(f) for n, f in after.items()} == {n: strip(f) for n, f in before.items()}


def test_a_catalog_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(schema.CatalogTooNew, match="newer askdocs"):
        Catalog(catalog.url).create()


def test_an_older_catalog_is_copied_before_it_is_migrated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert before_upgrade(settings) is None  # nothing there yet
    db = sqlite3.connect(tmp_path / "catalog.db")
    db.executescript(RELEASED.read_text())
    db.close()
    copy = before_upgrade(settings, echo=lambda _line: None)
    assert copy is not None and copy.parent == tmp_path / "backups"
    saved = sqlite3.connect(copy / "catalog.db")
    assert "page_end" not in _columns(saved, "chunks")  # the old schema, as it was
    Catalog(settings.catalog_url).create()
    assert "page_end" in _columns(sqlite3.connect(tmp_path / "catalog.db"), "chunks")
    assert before_upgrade(settings) is None  # at this code's schema: nothing to copy


def test_a_lexical_index_of_an_older_format_is_found_and_rebuilt(tmp_path: Path) -> None:
    with in_process(tmp_path / "data") as h:
        h.upload("reports", ("harbour report 2023.txt", b"Tonnage through the harbour rose."))
        h.work()
        directory = collection_dir(h.settings.index_dir, "reports")
        assert LexicalIndex.format_of(directory) == LEXICAL_FORMAT
        assert LexicalIndex.format_of(tmp_path / "nowhere") is None
        assert h.indexer.outdated_lexical() == []

        # what an older release left: its own title text in the fields, no format stamp
        lexical = LexicalIndex(directory)
        (hit,) = lexical.search("tonnage", 5)
        with h.services.catalog.reader() as s:
            doc_id = s.scalars(select(Chunk.document_id).where(Chunk.id == hit[0])).one()
        old = LexicalDoc(hit[0], doc_id, "Tonnage through the harbour rose.", "zeppelin heading")
        h.indexer._lex("reports").replace_document(doc_id, [old])
        (directory / "lexical" / FORMAT_FILE).unlink()
        lexical.reload()
        assert [i for i, _ in lexical.search("zeppelin", 5, title_boost=2.0)] == [hit[0]]
        assert LexicalIndex.format_of(directory) == 1
        assert h.indexer.outdated_lexical() == ["reports"]

        h.indexer.rebuild("reports")  # what the indexer queues for itself when it starts

        lexical.reload()
        assert lexical.search("zeppelin", 5, title_boost=2.0) == []
        assert [i for i, _ in lexical.search("harbour report", 5, title_boost=2.0)] == [hit[0]]
        assert h.indexer.outdated_lexical() == []
        assert h.search("reports", "harbour tonnage", k=1)[0]["document_name"] == (
            "harbour report 2023.txt"
        )
