"""`askdocs restore DIR`: a backup brought into an empty data dir, once it is shown to be what
`askdocs backup` wrote.

Nothing is written until every file of the backup matches the sha256 and size its manifest lists,
no file is missing or extra, and none is a symbolic link (``askdocs.archive``); files are then
copied without following a link and never outside the data dir. The server key comes from
``--key FILE``, else the backup, else DATA_DIR; the sources' tokens it does not open are dropped and
their sources switched off, and the admins and API keys that come back are reported (or revoked:
``askdocs.restore_access``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import create_engine, inspect, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from askdocs.archive import (
    BackupError,
    copy_listed,
    copy_private,
    make_dirs,
    open_regular,
    private_umask,
    read_regular,
    safe_relative,
    verify,
    write_private,
)
from askdocs.backup import (
    FORMAT,
    MANIFEST,
    PG_FILE,
    SECRET_KEY_FILE,
    SQLITE_FILE,
    BackupInfo,
    is_sqlite,
    pg_url,
)
from askdocs.restore_access import Access, drop_unreadable_tokens, review, sealed_tokens
from core.catalog import IN_WORKER, Catalog, DocStatus, Document, Source, SourceRun
from core.secrets import Vault
from core.settings import Settings

TOP_LEVEL = frozenset({SQLITE_FILE, PG_FILE, SECRET_KEY_FILE})
TREES = ("blobs/", "index/")


@dataclass(frozen=True)
class Restored:
    info: BackupInfo
    access: Access
    tokens_dropped: list[tuple[str, str]]  # (id, name) of sources whose token must be sent again


def read_info(src: Path) -> BackupInfo:
    try:
        text = read_regular(src / MANIFEST)
        raw = json.loads(text)
        version = raw.get("format") if isinstance(raw, dict) else None
        if version == FORMAT:
            return TypeAdapter(BackupInfo).validate_json(text, strict=True)
    except (BackupError, ValueError, ValidationError) as e:
        raise BackupError(f"{src} is not an askdocs backup ({MANIFEST} unreadable: {e})") from e
    if version == 1:
        raise BackupError(
            f"{src} was made by an older askdocs and lists no checksums, so it cannot be "
            "verified: restore it with that version and back it up again with this one"
        )
    raise BackupError(f"{src} is a backup of format {version}; this askdocs reads {FORMAT}")


def _empty_target(settings: Settings) -> None:
    """Refuse to restore over anything: the data dir's catalog, originals and indexes."""
    for d in (settings.blob_dir, settings.index_dir):
        if d.exists() and any(p for p in d.iterdir() if not p.name.startswith(".")):
            raise BackupError(f"{d} is not empty: restore into an empty data dir")
    url = settings.catalog_url
    if is_sqlite(url):
        if Path(make_url(url).database or "").exists():
            raise BackupError(f"{make_url(url).database} exists: restore into an empty data dir")
        return
    engine = create_engine(url)
    try:
        if inspect(engine).get_table_names():
            raise BackupError(f"the database at {make_url(url)!r} has tables: use an empty one")
    finally:
        engine.dispose()


def _valid_key(data: bytes) -> bool:
    """A Fernet key: 32 bytes, url-safe base64 (what ``core.secrets`` makes and reads)."""
    try:
        return len(base64.urlsafe_b64decode(data)) == 32
    except (binascii.Error, ValueError):
        return False


def _key_to_restore(
    settings: Settings, src: Path, info: BackupInfo, key: Path | None
) -> bytes | None:
    """The key to put at DATA_DIR/secret.key: ``key``'s, else the backup's, else None (a key
    there already is used as it is). Refused: a malformed key, or one that differs from the key
    already in the data dir."""
    data = None
    if key is not None:
        try:
            data = key.read_bytes().strip()
        except OSError as e:
            raise BackupError(f"cannot read the key {key}: {e.strerror}") from None
        where = str(key)
    elif SECRET_KEY_FILE in info.files:
        data = read_regular(src / SECRET_KEY_FILE).strip()
        where = f"the backup's {SECRET_KEY_FILE}"
    if data is None:
        return None
    if not _valid_key(data):
        raise BackupError(f"{where} is not an askdocs secret key (url-safe base64 of 32 bytes)")
    present = settings.data_dir / SECRET_KEY_FILE
    if present.exists() and read_regular(present).strip() != data:
        raise BackupError(
            f"{present} exists and differs from {where}: remove it, or restore without a key"
        )
    return data


def _check_names(info: BackupInfo) -> None:
    """Every file the manifest lists has its place in a data dir, and the catalog is there."""
    for name in info.files:
        safe_relative(name)
        if name not in TOP_LEVEL and not name.startswith(TREES):
            raise BackupError(f"the manifest lists {name!r}, which has no place in a data dir")
    needed = SQLITE_FILE if info.catalog == "sqlite" else PG_FILE
    if needed not in info.files:
        raise BackupError(f"the backup lists no {needed}: it holds no catalog")


def _restore_catalog(settings: Settings, src: Path, info: BackupInfo) -> None:
    if info.catalog == "sqlite":
        db = Path(make_url(settings.catalog_url).database or "")
        if copy_private(src / SQLITE_FILE, db) != info.files[SQLITE_FILE]:
            raise BackupError(f"{SQLITE_FILE} changed while it was restored: restore again")
        return
    fd = open_regular(src / PG_FILE)  # pg_restore reads the verified file, never a link
    try:
        done = subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", pg_url(settings.catalog_url)],
            stdin=fd,
            capture_output=True,
        )
    finally:
        os.close(fd)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.decode(errors='replace')[:500]}")


def restore(
    settings: Settings,
    src: Path,
    echo: Callable[[str], None] = print,
    key: Path | None = None,
    revoke_keys: bool = False,
) -> Restored:
    """Bring the backup at ``src`` into the empty data dir (and empty database) of ``settings``;
    the service must not be running on it. Nothing is written until every file of the backup
    matches its manifest.

    :param key: a ``secret.key`` kept apart from the backup (it wins over one inside).
    :param revoke_keys: revoke every API key the backup brings back and make one fresh admin key.
    """
    info = read_info(src)
    target = "sqlite" if is_sqlite(settings.catalog_url) else "postgresql"
    if info.catalog != target:
        raise BackupError(
            f"the backup holds a {info.catalog} catalog and this data dir uses {target}: restore "
            "it with the same kind of catalog"
        )
    _check_names(info)
    _empty_target(settings)
    verify(src, info.files, frozenset({MANIFEST}))
    key_bytes = _key_to_restore(settings, src, info, key)
    echo(f"verified {len(info.files)} files against {MANIFEST}")
    with private_umask():
        make_dirs(settings.data_dir)
        _restore_catalog(settings, src, info)
        echo(f"catalog ({target}): {info.documents} documents")
        for name, entry in sorted(info.files.items()):
            if name.startswith("blobs/"):
                copy_listed(src, name, settings.blob_dir, entry, drop=1)
            elif name.startswith("index/"):
                copy_listed(src, name, settings.index_dir, entry, drop=1)
        echo(f"originals: {info.originals}; indexes: {len(info.collections)} collections")
        key_file = settings.data_dir / SECRET_KEY_FILE
        if key_bytes is not None and not key_file.exists():
            write_private(key_file, key_bytes)
        catalog = Catalog(settings.catalog_url).create()  # an older backup's schema migrates here
        try:
            with catalog.session() as s:
                _settle(s)
                dropped: list[tuple[str, str]] = []
                if sealed_tokens(s):  # the key the restored service will seal and open with
                    dropped = drop_unreadable_tokens(s, Vault(settings.secret_key, key_file))
                access = review(s, revoke_keys)
        finally:
            catalog.engine.dispose()
    return Restored(info, access, dropped)


def _settle(s: Session) -> None:
    """What was in flight at the snapshot has lost its worker."""
    s.execute(update(Source).values(lease_owner=None, lease_until=None))
    s.execute(
        update(SourceRun)
        .where(SourceRun.status == "running")
        .values(status="interrupted", message="in flight when the backup was made")
    )
    s.execute(  # they run again
        update(Document)
        .where(Document.status.in_(list(IN_WORKER)))
        .values(status=DocStatus.queued, lease_owner=None, lease_until=None, attempts=0)
    )
