"""`askdocs backup DIR` and `askdocs restore DIR`: a consistent snapshot of a running service, and
bringing it back into an empty data dir.

A backup holds the catalog (SQLite's online backup API, or ``pg_dump`` of a PostgreSQL catalog),
the originals the catalog refers to, and each collection's index files of the generation the
catalog records. Consistency comes from the locks the service already takes: every collection's
generation lock, shared, so the indexer cannot commit a new generation while the snapshot and the
copy of its files are made (readers and ingest workers go on); and the originals' lock while the
catalog is copied and the originals it names are linked or copied, so no original the snapshot
names is removed meanwhile. Documents that were between queued and indexing at the snapshot are
queued again when restored (the janitor sends their tasks at the first start).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select, update
from sqlalchemy.engine import make_url

from core import schema
from core.blobs import BlobStore
from core.catalog import (
    IN_WORKER,
    Catalog,
    Collection,
    DocStatus,
    Document,
    Source,
    SourceRun,
)
from core.settings import Settings
from retrieval.index_store import collection_dir, generation_lock, manifest_of
from retrieval.lexical_index import LEXICAL_DIR, LexicalIndex

MANIFEST = "backup.json"
SQLITE_FILE = "catalog.db"
SECRET_KEY_FILE = "secret.key"
PG_FILE = "catalog.pgdump"
FORMAT = 1
LEXICAL_ATTEMPTS = 5
IGNORED = shutil.ignore_patterns("*.lock", ".tantivy-*", ".generation.lock")


class BackupError(RuntimeError):
    """A backup or restore that cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class BackupInfo:
    format: int
    schema: str | None
    catalog: str  # "sqlite" or "postgresql"
    documents: int
    originals: int
    collections: dict[str, int]  # name -> index generation


def _pg_url(url: str) -> str:
    """A libpq URL for pg_dump/pg_restore (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _snapshot_catalog(settings: Settings, out: Path) -> str:
    url = settings.catalog_url
    if _is_sqlite(url):
        source = sqlite3.connect(make_url(url).database or "")
        try:
            target = sqlite3.connect(out / SQLITE_FILE)
            with target:
                source.backup(target)
            target.close()
        finally:
            source.close()
        return "sqlite"
    done = subprocess.run(
        ["pg_dump", "--format=custom", "--file", str(out / PG_FILE), _pg_url(url)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()[:500]}")
    return "postgresql"


def _copy_file(src: Path, dst: Path) -> None:
    """A hard link where the backup is on the same file system (files here never change once
    written), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_lexical(src: Path, dst: Path, expected: int) -> None:
    """The lexical index directory, checked by opening the copy: tantivy may merge segments in
    the background after a commit, so a copy that caught a merge half-way is made again."""
    for _ in range(LEXICAL_ATTEMPTS):
        shutil.rmtree(dst / LEXICAL_DIR, ignore_errors=True)
        try:
            shutil.copytree(src / LEXICAL_DIR, dst / LEXICAL_DIR, ignore=IGNORED)
            copy = LexicalIndex(dst)
            if copy.size == expected:
                return
        except (OSError, ValueError):
            pass
    raise BackupError(f"could not copy a consistent lexical index from {src}: try again")


@contextmanager
def _frozen(settings: Settings, names: list[str]) -> Iterator[None]:
    """No index generation of ``names`` changes while this is held (readers go on)."""
    with ExitStack() as stack:
        for name in sorted(names):
            stack.enter_context(generation_lock(settings.index_dir, name, exclusive=False))
        yield


def backup(settings: Settings, out: Path, echo: Callable[[str], None] = print) -> BackupInfo:
    """Snapshot the service of ``settings`` into ``out`` (new or empty), while it runs."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: back up into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.catalog_url)
    blobs = BlobStore(settings.blob_dir)
    try:
        with catalog.reader() as s:
            names = list(s.scalars(select(Collection.id)))
        with _frozen(settings, names):
            # Under these locks neither the collections' manifests nor the set of originals in use
            # can change, so what the live catalog says now is what the snapshot holds.
            with blobs.lock():
                kind = _snapshot_catalog(settings, out)
                with catalog.reader() as s:
                    collections = s.scalars(select(Collection)).all()
                    if not {c.id for c in collections} <= set(names):
                        raise BackupError("a collection was made during the backup: run it again")
                    used = {
                        sha or doc_id  # older rows: the document id was the blob's name
                        for doc_id, sha in s.execute(select(Document.id, Document.content_sha256))
                    }
                    documents = s.scalar(select(func.count()).select_from(Document)) or 0
                    manifests = {c.id: manifest_of(c) for c in collections}
                    generations = {c.id: c.index_generation for c in collections}
                    revision = _revision(catalog)
                for blob in sorted(used):
                    if blobs.path(blob).exists():  # an upload whose row is not written yet
                        _copy_file(blobs.path(blob), out / "blobs" / blob[:2] / blob)
                echo(f"catalog ({kind}): {documents} documents, {len(used)} originals")
            for name, manifest in manifests.items():
                src = collection_dir(settings.index_dir, name)
                dst = out / "index" / name
                if manifest is not None:
                    for f in sorted(manifest.files):
                        _copy_file(src / f, dst / f)
                if (src / LEXICAL_DIR).exists():
                    _copy_lexical(src, dst, LexicalIndex(src).size)
                echo(f"index of {name}: generation {generations[name]}")
        key = settings.data_dir / SECRET_KEY_FILE
        if key.exists():  # sources' credentials open with it (unless ASKDOCS_SECRET_KEY is set)
            _copy_file(key, out / SECRET_KEY_FILE)
    finally:
        catalog.engine.dispose()
    info = BackupInfo(FORMAT, revision, kind, documents, len(used), generations)
    (out / MANIFEST).write_text(json.dumps(asdict(info), indent=2) + "\n")
    return info


def _revision(catalog: Catalog) -> str | None:
    with catalog.engine.connect() as conn:
        return schema.current(conn)


def read_info(src: Path) -> BackupInfo:
    try:
        info = BackupInfo(**json.loads((src / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise BackupError(f"{src} is not an askdocs backup ({MANIFEST} unreadable: {e})") from e
    if info.format != FORMAT:
        raise BackupError(f"{src} is a backup of format {info.format}; this askdocs reads {FORMAT}")
    return info


def _empty_target(settings: Settings) -> None:
    """Refuse to restore over anything: the data dir's catalog, originals and indexes."""
    for d in (settings.blob_dir, settings.index_dir):
        if d.exists() and any(p for p in d.iterdir() if not p.name.startswith(".")):
            raise BackupError(f"{d} is not empty: restore into an empty data dir")
    url = settings.catalog_url
    if _is_sqlite(url):
        if Path(make_url(url).database or "").exists():
            raise BackupError(f"{make_url(url).database} exists: restore into an empty data dir")
        return
    engine = create_engine(url)
    try:
        if inspect(engine).get_table_names():
            raise BackupError(f"the database at {make_url(url)!r} has tables: use an empty one")
    finally:
        engine.dispose()


def restore(settings: Settings, src: Path, echo: Callable[[str], None] = print) -> BackupInfo:
    """Bring the backup at ``src`` into the empty data dir (and empty database) of ``settings``;
    the service must not be running on it."""
    info = read_info(src)
    target = "sqlite" if _is_sqlite(settings.catalog_url) else "postgresql"
    if info.catalog != target:
        raise BackupError(
            f"the backup holds a {info.catalog} catalog and this data dir uses {target}: restore "
            "it with the same kind of catalog"
        )
    _empty_target(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if target == "sqlite":
        shutil.copy2(src / SQLITE_FILE, make_url(settings.catalog_url).database or "")
    else:
        done = subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--dbname",
                _pg_url(settings.catalog_url),
                str(src / PG_FILE),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()[:500]}")
    echo(f"catalog ({target}): {info.documents} documents")
    if (src / "blobs").exists():
        shutil.copytree(src / "blobs", settings.blob_dir, dirs_exist_ok=True)
    echo(f"originals: {info.originals}")
    if (src / "index").exists():
        shutil.copytree(src / "index", settings.index_dir, dirs_exist_ok=True)
    echo(f"indexes: {len(info.collections)} collections")
    if (src / SECRET_KEY_FILE).exists() and not (settings.data_dir / SECRET_KEY_FILE).exists():
        shutil.copy2(src / SECRET_KEY_FILE, settings.data_dir / SECRET_KEY_FILE)
        (settings.data_dir / SECRET_KEY_FILE).chmod(0o600)
    catalog = Catalog(settings.catalog_url).create()  # an older backup's schema is migrated here
    try:
        with catalog.session() as s:
            s.execute(  # sync runs in flight at the snapshot: their worker is gone
                update(Source).values(lease_owner=None, lease_until=None)
            )
            s.execute(
                update(SourceRun)
                .where(SourceRun.status == "running")
                .values(status="interrupted", message="in flight when the backup was made")
            )
            s.execute(  # in flight at the snapshot: their worker is gone, they run again
                update(Document)
                .where(Document.status.in_(list(IN_WORKER)))
                .values(status=DocStatus.queued, lease_owner=None, lease_until=None, attempts=0)
            )
    finally:
        catalog.engine.dispose()
    return info


def before_upgrade(settings: Settings, echo: Callable[[str], None] = print) -> Path | None:
    """When the catalog is at an older schema than this code's, copy it (catalog only) to
    ``DATA_DIR/backups/pre-upgrade-<revision>-<time>`` before anything migrates it; the copy's
    path, or None when no migration is due (a new catalog, or one at this code's schema). A
    catalog newer than this code is left alone: starting refuses it."""
    catalog = Catalog(settings.catalog_url)
    try:
        if not inspect(catalog.engine).get_table_names():
            return None
        revision = _revision(catalog)
    finally:
        catalog.engine.dispose()
    if revision == schema.head() or revision not in schema.known():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = settings.data_dir / "backups" / f"pre-upgrade-{revision or 'unversioned'}-{stamp}"
    out.mkdir(parents=True)
    kind = _snapshot_catalog(settings, out)
    info = BackupInfo(FORMAT, revision, kind, 0, 0, {})
    (out / MANIFEST).write_text(json.dumps(asdict(info), indent=2) + "\n")
    echo(f"catalog at schema {revision or 'before versions'}: copied to {out} before upgrading it")
    return out
