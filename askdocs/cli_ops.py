"""Operators' commands, run on the server against the catalog and the index files: `askdocs check
[--repair] [--deep]`, `askdocs backup DIR`, `askdocs restore DIR`."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy import delete, select

from askdocs import backup as backups
from askdocs import janitor
from askdocs import restore as restores
from core.blob_check import BadOriginal, check_originals, originals_size
from core.blobs import BlobStore
from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from core.celery_app import INDEX_QUEUE, REBUILD_TASK, TASK_EXPIRES_SECONDS, create_celery
from core.settings import Settings
from retrieval.consistency import Report, remove_orphans
from retrieval.consistency import check as check_collection
from retrieval.index_store import ServedModel

console = Console()


def check(
    collection: str = typer.Option(None, "--collection", "-c", help="Only this collection."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Rebuild disagreeing indexes from the catalog (by the indexer), drop leftover chunk "
        "rows, send lost tasks again.",
    ),
    timeout: float = typer.Option(600, help="Seconds to wait for the indexer's rebuilds."),
    deep: bool = typer.Option(
        False,
        "--deep",
        help="Also re-hash every original the catalog refers to (reads them all); without it, "
        "originals are checked by their size.",
    ),
) -> None:
    """Do the catalog, FAISS and the lexical index agree, collection by collection? Are the
    originals of the documents there, whole?"""
    settings = Settings()
    catalog = Catalog(settings.catalog_url).create()
    model = ServedModel.of(settings.embedding_model)
    with catalog.session() as s:
        names = (
            [collection]
            if collection
            else list(s.scalars(select(Collection.id).where(Collection.deleted_at.is_(None))))
        )

    def run() -> list[Report]:
        return [check_collection(catalog, settings.index_dir, n, model) for n in names]

    reports = run()
    if repair:
        celery = create_celery(settings)
        generations: dict[str, int] = {}
        for r in reports:
            if r.orphan_files:
                remove_orphans(catalog, settings.index_dir, r.collection)
            if r.leftover_chunks:
                with catalog.session() as s:
                    dead = select(Document.id).where(
                        Document.collection_id == r.collection,
                        Document.status.in_([DocStatus.failed, DocStatus.cancelled]),
                    )
                    s.execute(delete(Chunk).where(Chunk.document_id.in_(dead)))
            if not r.index_ok:
                with catalog.session() as s:
                    coll = s.get(Collection, r.collection)
                    generations[r.collection] = coll.index_generation if coll else 0
                celery.send_task(
                    REBUILD_TASK,
                    args=[r.collection],
                    queue=INDEX_QUEUE,
                    expires=TASK_EXPIRES_SECONDS,
                )
        sent = janitor.sweep(catalog, celery, settings)
        deadline = time.monotonic() + timeout
        while generations and time.monotonic() < deadline:
            with catalog.session() as s:
                for name in list(generations):
                    coll = s.get(Collection, name)
                    if coll is None or coll.index_generation > generations[name]:
                        del generations[name]
            time.sleep(0.5)  # waiting for the indexer's rebuilds to land
        if generations:
            console.print(
                f"[red]rebuild not done within {timeout:.0f} s:[/red] {list(generations)}"
            )
        console.print(f"repair: sent again {sum(sent.values())} lost task(s)")
        reports = run()
    table = Table(
        "collection", "ready docs", "chunks", "vectors", "lexical", "problems", "unfinished"
    )
    for r in reports:
        problems = problems_of(r)
        table.add_row(
            r.collection,
            str(r.ready_documents),
            str(r.catalog_chunks),
            str(r.vectors),
            str(r.lexical_chunks),
            ", ".join(problems) or "[green]none[/green]",
            ", ".join(f"{k} {v}" for k, v in r.unfinished.items()),
        )
    console.print(table)
    for r in reports:  # plain lines too: the table wraps in narrow terminals, scripts grep these
        print(
            f"{r.collection}: {'ok' if r.ok else 'PROBLEM'}"
            + (f" ({', '.join(problems_of(r))})" if not r.ok else "")
        )
    bad = _check_originals(settings, catalog, collection, deep)
    catalog.engine.dispose()
    if bad or not all(r.ok for r in reports):
        raise typer.Exit(1)


def _check_originals(
    settings: Settings, catalog: Catalog, collection: str | None, deep: bool
) -> list[BadOriginal]:
    """Check the originals (re-hashed with ``deep``, else by size), print what is wrong."""
    count, size = originals_size(catalog, collection)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(
            f"{'re-hashing' if deep else 'checking'} {count} originals", total=size
        )
        bad = check_originals(
            catalog,
            BlobStore(settings.blob_dir),
            collection,
            deep=deep,
            progress=lambda n: progress.advance(task, n),
        )
    if bad:
        table = Table("collection", "document", "id", "original")
        for b in bad:
            table.add_row(b.collection, b.name, b.document_id, f"[red]{b.problem}[/red]")
        console.print(table)
    how = "re-hashed" if deep else "checked by size"
    print(f"originals: {count} {how}, {len(bad)} documents with a missing or changed one")
    for b in bad:  # one plain line each, for scripts
        print(f"original {b.problem}: {b.collection}/{b.name} ({b.document_id}, {b.sha256})")
    return bad


def problems_of(r: Report) -> list[str]:
    return [
        f"{label} {n}"
        for label, n in (
            ("missing vectors", r.missing_vectors),
            ("extra vectors", r.extra_vectors),
            ("missing lexical", r.missing_lexical),
            ("extra lexical", r.extra_lexical),
            ("leftover chunks", r.leftover_chunks),
            ("orphan segment files", r.orphan_files),
            ("unreadable segment files", r.missing_files),
        )
        if n
    ]


def backup(
    directory: Path = typer.Argument(..., help="A new (or empty) directory for the backup."),  # noqa: B008
    with_key: bool = typer.Option(
        False,
        "--with-key",
        help="Also copy DATA_DIR/secret.key: the backup alone then opens the sources' tokens.",
    ),
) -> None:
    """A consistent snapshot of the running service: catalog, originals, index files (0700/0600,
    with their checksums in backup.json)."""
    try:
        info = backups.backup(Settings(), directory, echo=console.print, with_key=with_key)
    except backups.BackupError as e:
        console.print(f"[red]backup failed:[/red] {e}")
        raise typer.Exit(1) from None
    print(
        f"backed up {info.documents} documents, {info.originals} originals and "
        f"{len(info.collections)} collections to {directory}"
    )


def restore(
    directory: Path = typer.Argument(..., help="A directory made by `askdocs backup`."),  # noqa: B008
    key: Path = typer.Option(  # noqa: B008
        None, "--key", help="The secret.key kept apart from the backup (opens sources' tokens)."
    ),
    revoke_keys: bool = typer.Option(
        False,
        "--revoke-keys",
        help="Revoke every API key the backup brings back and print one fresh admin key.",
    ),
) -> None:
    """Bring a backup into an empty data dir (ASKDOCS_DATA_DIR; stop the service first), once
    every file matches its checksum."""
    settings = Settings()
    try:
        done = restores.restore(
            settings, directory, echo=console.print, key=key, revoke_keys=revoke_keys
        )
    except backups.BackupError as e:
        console.print(f"[red]restore failed:[/red] {e}")
        raise typer.Exit(1) from None
    access = done.access
    print(
        f"users: {access.users}; admins: {', '.join(access.admins) or 'none'}; "
        f"API keys brought back: {access.keys}"
    )
    if access.fresh_key:
        print(f"revoked {access.revoked} API keys; a fresh key for admin {access.fresh_key_user}")
        print(f"  (shown once, keep it): {access.fresh_key}")
    elif access.keys:
        print(
            "  these keys work again; restore with --revoke-keys if the backup came from elsewhere"
        )
    if done.tokens_dropped:
        print(
            f"{len(done.tokens_dropped)} sources need their token again (no key given opens it; "
            "they are switched off): send it with PATCH /sources/ID "
            '{"token": ..., "enabled": true}, or restore again with --key FILE'
        )
        for source_id, name in done.tokens_dropped:
            print(f"  {source_id}  {name}")
    print(
        f"restored {done.info.documents} documents and {len(done.info.collections)} collections "
        f"into {settings.data_dir}; start it with `askdocs up`"
    )


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(backup)
    app.command()(restore)
