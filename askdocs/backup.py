"""`askdocs backup DIR` and `askdocs restore DIR`: a consistent snapshot of a running service, and
bringing it back into an empty data dir.

A backup holds the catalog (SQLite's online backup API, or ``pg_dump`` of a PostgreSQL catalog),
the originals the catalog refers to, and each collection's index files of the generation the
catalog records. Consistency comes from every collection's generation lock, taken shared, so the
indexer cannot commit a new generation while the snapshot and the copy of its files are made
(readers and ingest workers go on). The originals need no lock: the ones copied are those the
snapshot itself names (read from the copy of a SQLite catalog, or in the transaction whose
snapshot ``pg_dump`` exports), and each of them was in use at the snapshot, so the blob sweep
unlinks it at the earliest ``blob_grace_seconds`` after it (``core.blob_sweep``): the copy has
that long. Documents that were between queued and indexing at the snapshot are queued again when
restored (the janitor sends their tasks at the first start).

A backup is private (directories 0700, files 0600: ``askdocs.archive``) and lists the sha256 and size
of every file it holds in ``backup.json``, which ``askdocs.restore`` verifies before it writes
anything. The server's ``secret.key`` (which opens the sources' tokens) is left out unless asked
for, so that a backup alone reads no credential.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from askdocs.archive import (
    BackupError,
    FileEntry,
    copy_private,
    copy_tree_private,
    create_private,
    inventory,
    make_dirs,
    private_umask,
    write_private,
)
from core import blob_sweep, schema
from core.blobs import BlobStore
from core.catalog import Catalog, Collection, Document
from core.settings import Settings
from retrieval.index_store import collection_dir, generation_lock, manifest_of
from retrieval.lexical_index import LEXICAL_DIR, LexicalIndex

__all__ = ["BackupError", "BackupInfo", "backup", "before_upgrade"]

MANIFEST = "backup.json"
SQLITE_FILE = "catalog.db"
SECRET_KEY_FILE = "secret.key"
PG_FILE = "catalog.pgdump"
FORMAT = 2  # 2: files listed with their sha256 and size; the key only when asked for
LEXICAL_ATTEMPTS = 5
IGNORED = ("*.lock", ".tantivy-*", ".generation.lock")


@dataclass(frozen=True)
class BackupInfo:
    format: int
    schema: str | None
    catalog: str  # "sqlite" or "postgresql"
    documents: int
    originals: int
    collections: dict[str, int]  # name -> index generation
    with_key: bool = False
    files: dict[str, FileEntry] = field(default_factory=dict)  # path in the backup -> checksum


def pg_url(url: str) -> str:
    """A libpq URL for pg_dump/pg_restore (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@dataclass(frozen=True)
class _Snapshot:
    """What a catalog snapshot holds, read from the snapshot itself."""

    kind: str  # "sqlite" or "postgresql"
    documents: int
    originals: set[str]  # the sha256 of every original a document of the snapshot uses


def _references(conn: Connection) -> tuple[int, set[str]]:
    """How many documents the catalog on ``conn`` holds, and the originals they use."""
    originals = {
        sha or doc_id  # older rows: the document id was the blob's name
        for doc_id, sha in conn.execute(select(Document.id, Document.content_sha256))
    }
    documents = conn.scalar(select(func.count()).select_from(Document)) or 0
    return documents, originals


def _snapshot_catalog(settings: Settings, out: Path, references: bool = True) -> _Snapshot:
    """Copy the catalog into ``out``; with ``references``, read what the copy holds."""
    url = settings.catalog_url
    if is_sqlite(url):
        os.close(create_private(out / SQLITE_FILE))  # made 0600 before SQLite writes into it
        source = sqlite3.connect(make_url(url).database or "")
        try:
            target = sqlite3.connect(out / SQLITE_FILE)
            with target:
                source.backup(target)
            target.close()
        finally:
            source.close()
        if not references:
            return _Snapshot("sqlite", 0, set())
        # read, then closed: SQLite removes the -wal and -shm files it made beside the copy
        copy = create_engine(f"sqlite:///{out / SQLITE_FILE}", poolclass=NullPool)
        with copy.connect() as conn:
            return _Snapshot("sqlite", *_references(conn))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():  # pg_dump reads this transaction's snapshot, and so do we
                exported = conn.scalar(text("SELECT pg_export_snapshot()"))
                _pg_dump(url, out, str(exported))
                found = _references(conn) if references else (0, set())
    finally:
        engine.dispose()
    return _Snapshot("postgresql", *found)


def _pg_dump(url: str, out: Path, snapshot: str) -> None:
    fd = create_private(out / PG_FILE)
    try:
        done = subprocess.run(
            ["pg_dump", "--format=custom", f"--snapshot={snapshot}", pg_url(url)],
            stdout=fd,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(fd)
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.decode(errors='replace').strip()[:500]}")


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED)


def _copy_lexical(src: Path, dst: Path, expected: int) -> None:
    """The lexical index directory, checked by opening the copy: tantivy may merge segments in
    the background after a commit, so a copy that caught a merge half-way is made again."""
    for _ in range(LEXICAL_ATTEMPTS):
        shutil.rmtree(dst / LEXICAL_DIR, ignore_errors=True)
        try:
            copy_tree_private(src / LEXICAL_DIR, dst / LEXICAL_DIR, _ignored)
            copy = LexicalIndex(dst)
            if copy.size == expected:
                return
        except (OSError, ValueError, BackupError):
            pass
    raise BackupError(f"could not copy a consistent lexical index from {src}: try again")


@contextmanager
def _frozen(settings: Settings, names: list[str]) -> Iterator[None]:
    """No index generation of ``names`` changes while this is held (readers go on)."""
    with ExitStack() as stack:
        for name in sorted(names):
            stack.enter_context(generation_lock(settings.index_dir, name, exclusive=False))
        yield


def _new_backup_dir(out: Path) -> None:
    """``out`` made 0700, or an existing empty directory closed to others before anything is in
    it."""
    if out.is_symlink():
        raise BackupError(f"{out} is a symbolic link: back up into a real, new directory")
    if out.exists():
        if not out.is_dir() or any(out.iterdir()):
            raise BackupError(f"{out} is not empty: back up into a new directory")
        os.chmod(out, 0o700)
        return
    make_dirs(out)


def _write_manifest(out: Path, info: BackupInfo) -> BackupInfo:
    """``info`` with the checksum of every file now in ``out``, written to ``out/backup.json``."""
    info = BackupInfo(**{**asdict(info), "files": inventory(out, frozenset({MANIFEST}))})
    write_private(out / MANIFEST, (json.dumps(asdict(info), indent=2) + "\n").encode())
    return info


def _key_note(settings: Settings, included: bool) -> str:
    """Where the key that opens the sources' tokens is, and where to keep it."""
    key = settings.data_dir / SECRET_KEY_FILE
    if settings.secret_key:
        return (
            "sources' tokens are sealed with ASKDOCS_SECRET_KEY, which no backup holds: keep it "
            "apart from the backups (a password manager) to restore them"
        )
    if included:
        return (
            f"{SECRET_KEY_FILE} is in this backup: whoever holds the backup can read the sources' "
            "tokens; keep it as safe as the key itself"
        )
    if key.exists():
        return (
            f"{SECRET_KEY_FILE} left out: keep a copy of {key} apart from the backups (a password "
            "manager, another store) and restore with --key FILE; without it, restored sources "
            "need their token again"
        )
    return f"no {SECRET_KEY_FILE} yet: no source token is stored"


def backup(
    settings: Settings, out: Path, echo: Callable[[str], None] = print, with_key: bool = False
) -> BackupInfo:
    """Snapshot the service of ``settings`` into ``out`` (new or empty), while it runs.

    :param with_key: also copy ``DATA_DIR/secret.key`` (the backup then opens the sources' tokens).
    """
    with private_umask():
        _new_backup_dir(out)
        info = _snapshot(settings, out, echo)
        key = settings.data_dir / SECRET_KEY_FILE
        included = with_key and not settings.secret_key and key.exists()
        if included:
            copy_private(key, out / SECRET_KEY_FILE)
        echo(_key_note(settings, included))
        return _write_manifest(out, BackupInfo(**{**asdict(info), "with_key": included}))


def _snapshot(settings: Settings, out: Path, echo: Callable[[str], None]) -> BackupInfo:
    catalog = Catalog(settings.catalog_url)
    blobs = BlobStore(settings.blob_dir)
    try:
        with catalog.reader() as s:
            names = list(s.scalars(select(Collection.id)))
        with _frozen(settings, names):
            # Under these locks no collection's manifest can change, so what the live catalog
            # says of them now is what the snapshot holds.
            snap = _snapshot_catalog(settings, out)
            with catalog.reader() as s:
                collections = s.scalars(select(Collection)).all()
                if not {c.id for c in collections} <= set(names):
                    raise BackupError("a collection was made during the backup: run it again")
                manifests = {c.id: manifest_of(c) for c in collections}
                generations = {c.id: c.index_generation for c in collections}
                revision = _revision(catalog)
            missing = [b for b in sorted(snap.originals) if not _copy_original(blobs, b, out)]
            _judge_missing(catalog, settings, missing, echo)
            echo(
                f"catalog ({snap.kind}): {snap.documents} documents, "
                f"{len(snap.originals)} originals"
            )
            for name, manifest in manifests.items():
                src = collection_dir(settings.index_dir, name)
                dst = out / "index" / name
                if manifest is not None:
                    for f in sorted(manifest.files):
                        copy_private(src / f, dst / f)
                if (src / LEXICAL_DIR).exists():
                    _copy_lexical(src, dst, LexicalIndex(src).size)
                echo(f"index of {name}: generation {generations[name]}")
    finally:
        catalog.engine.dispose()
    return BackupInfo(FORMAT, revision, snap.kind, snap.documents, len(snap.originals), generations)


def _copy_original(blobs: BlobStore, sha: str, out: Path) -> bool:
    """Copy one original into the backup; False when it is not in the store."""
    path = blobs.path(sha)
    if not path.exists():
        return False
    try:
        copy_private(path, out / "blobs" / sha[:2] / sha)
    except BackupError:
        if path.exists() or path.is_symlink():
            raise
        return False  # removed while it was opened
    return True


def _judge_missing(
    catalog: Catalog, settings: Settings, missing: list[str], echo: Callable[[str], None]
) -> None:
    """Originals the snapshot names that were not in the store: one no document uses any more
    was removed by the blob sweep since the snapshot (the copy took longer than the grace
    period), and the backup fails; one still in use was missing before (``askdocs check`` lists
    its documents), and the backup goes on without it."""
    if not missing:
        return
    with catalog.reader() as s:
        used = blob_sweep.in_use(s, missing)
    swept = [b for b in missing if b not in used]
    if swept:
        raise BackupError(
            f"{len(swept)} originals the catalog snapshot names were removed by the blob sweep "
            "before they were copied: the copy took longer than blob_grace_seconds "
            f"({settings.blob_grace_seconds:g} s). Raise it, or back up to a faster disk, and "
            "run the backup again"
        )
    echo(f"{len(missing)} originals missing from the blob store (see askdocs check): not copied")


def _revision(catalog: Catalog) -> str | None:
    with catalog.engine.connect() as conn:
        return schema.current(conn)


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
    with private_umask():
        make_dirs(out)
        kind = _snapshot_catalog(settings, out, references=False).kind
        _write_manifest(out, BackupInfo(FORMAT, revision, kind, 0, 0, {}))
    echo(f"catalog at schema {revision or 'before versions'}: copied to {out} before upgrading it")
    return out
