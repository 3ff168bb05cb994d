"""`askdocs source add|list|sync|runs|remove`: sources over the API, as the UI has them."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from client.http import ApiClient, ApiError
from core.settings import Settings

console = Console()
source_app = typer.Typer(help="Folders, websites and git repositories a collection syncs from.")
COUNTS = ("listed", "new", "changed", "unchanged", "renamed", "deleted", "failed", "held")


def register(app: typer.Typer) -> None:
    app.add_typer(source_app, name="source")


def _client() -> ApiClient:
    settings = Settings()
    return ApiClient(settings.api_base, settings.api_key, 60.0)


def _fail(e: ApiError) -> NoReturn:
    console.print(f"[red]error[/red] {e}")
    raise typer.Exit(2) from None


def _counts(run: dict[str, Any]) -> str:
    return ", ".join(f"{k} {run[k]}" for k in COUNTS if run.get(k))


@source_app.command("add")
def add(
    kind: str = typer.Argument(..., help="folder, web or git"),
    where: str = typer.Argument(..., help="A folder on the server, a start URL or sitemap, a repo"),
    collection: str = typer.Option("default", "--collection", "-c"),
    name: str = typer.Option(None, help="Default: WHERE."),
    schedule: str = typer.Option(None, help="'every 30m', '6h' or a cron expression."),
    branch: str = typer.Option("main", help="git: the branch to sync."),
    include: list[str] = typer.Option([], help="Only paths matching this glob (repeatable)."),  # noqa: B008
    exclude: list[str] = typer.Option([], help="Never paths matching this glob (repeatable)."),  # noqa: B008
    max_pages: int = typer.Option(500, help="web: most pages per run."),
    max_depth: int = typer.Option(2, help="web: links followed from the start page."),
    token: str = typer.Option(None, envvar="ASKDOCS_SOURCE_TOKEN", help="For a private host."),
) -> None:
    """Add a source; its first sync starts at once."""
    config: dict[str, Any] = {"include": include, "exclude": exclude}
    if kind == "folder":
        config["path"] = where
    elif kind == "web":
        config.update(url=where, max_pages=max_pages, max_depth=max_depth)
    elif kind == "git":
        config.update(url=where, branch=branch)
    else:
        console.print("[red]error[/red] KIND is folder, web or git")
        raise typer.Exit(2)
    body = {
        "collection": collection,
        "name": name or where[-128:],
        "kind": kind,
        "config": config,
        "schedule": schedule,
        "token": token,
    }
    try:
        with _client() as c:
            src = c.add_source(body)
    except ApiError as e:
        _fail(e)
    console.print(f"added source [bold]{src['id']}[/bold] to {src['collection']}; syncing")


@source_app.command("list")
def list_(collection: str = typer.Option(None, "--collection", "-c")) -> None:
    """Sources, their schedule and last run."""
    try:
        with _client() as c:
            rows = c.sources(collection)
    except ApiError as e:
        _fail(e)
    table = Table("id", "collection", "name", "kind", "schedule", "documents", "last run")
    for src in rows:
        last = src.get("last_run") or {}
        summary = f"{last.get('status', '-')} {_counts(last)}" if last else "-"
        table.add_row(
            src["id"][:8],
            src["collection"],
            src["name"],
            src["kind"],
            src.get("schedule") or "by hand",
            str(src["documents"]),
            summary,
        )
    console.print(table)


def _resolve(c: ApiClient, prefix: str) -> str:
    matches = [s["id"] for s in c.sources() if s["id"].startswith(prefix)]
    if len(matches) != 1:
        raise ApiError(f"{len(matches)} sources have an id starting with {prefix!r}", 404)
    return matches[0]


@source_app.command("sync")
def sync(
    source: str = typer.Argument(..., help="Its id (or the start of it)."),
    wait: bool = typer.Option(True, help="Wait for the run to end and print what it did."),
    confirm_deletions: bool = typer.Option(
        False,
        "--confirm-deletions",
        help="Delete what the listing says is gone, however much (after a run ended 'held').",
    ),
) -> None:
    """Sync a source now."""
    try:
        with _client() as c:
            sid = _resolve(c, source)
            run = c.sync_source(sid, confirm_deletions=confirm_deletions)
            while wait and run["status"] in ("queued", "running"):
                time.sleep(0.5)  # polling the API for the run's state
                run = next(r for r in c.source_runs(sid, limit=20) if r["id"] == run["id"])
    except ApiError as e:
        _fail(e)
    console.print(f"run {run['id'][:8]}: {run['status']} {_counts(run)} {run.get('message') or ''}")
    if run["status"] == "held":
        console.print(
            f"[yellow]held[/yellow] {run['held']} deletions: check the source, then "
            f"`askdocs source sync {sid[:8]} --confirm-deletions`"
        )
    for f in run.get("failures", [])[:20]:
        console.print(f"  [red]failed[/red] {f['origin']}: {f['reason']}")


@source_app.command("runs")
def runs(source: str = typer.Argument(...), limit: int = typer.Option(10)) -> None:
    """A source's last runs."""
    try:
        with _client() as c:
            rows = c.source_runs(_resolve(c, source), limit)
    except ApiError as e:
        _fail(e)
    table = Table("run", "trigger", "status", "started", "s", *COUNTS)
    for r in rows:
        table.add_row(
            r["id"][:8],
            r["trigger"],
            r["status"],
            (r.get("started_at") or "")[:19],
            str(r.get("duration_s") or ""),
            *(str(r[k]) for k in COUNTS),
        )
    console.print(table)


@source_app.command("remove")
def remove(
    source: str = typer.Argument(...),
    keep_documents: bool = typer.Option(False, help="Keep the documents it synced."),
) -> None:
    """Remove a source (and its documents unless --keep-documents)."""
    try:
        with _client() as c:
            c.remove_source(_resolve(c, source), keep_documents)
    except ApiError as e:
        _fail(e)
    console.print("removed")
