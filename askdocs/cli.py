"""`askdocs`: start the stack, ingest files, ask questions, show status. Talks to the API over HTTP."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from askdocs.cli_access import register as register_access_commands
from askdocs.settings import Settings

app = typer.Typer(
    help="askdocs: ask questions of your own documents, offline.", no_args_is_help=True
)
console = Console()
UPLOAD_BATCH = 16
UPLOAD_BATCH_BYTES = (
    128 * 1024 * 1024
)  # well under the API's request limit; a bigger file goes alone


def _batches(files: list[Path]) -> list[list[Path]]:
    """Upload requests of at most UPLOAD_BATCH files and about UPLOAD_BATCH_BYTES each."""
    out: list[list[Path]] = []
    size = 0
    for f in files:
        n = f.stat().st_size
        if not out or len(out[-1]) >= UPLOAD_BATCH or (out[-1] and size + n > UPLOAD_BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(f)
        size += n
    return out


def _client(settings: Settings, timeout: float = 60.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    return httpx.Client(base_url=settings.api_base, timeout=timeout, headers=headers)


def _fail(resp: httpx.Response) -> None:
    try:
        err = resp.json()["error"]
        msg = f"{err['type']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        msg = resp.text[:500]
    console.print(f"[red]error {resp.status_code}[/red] {msg}")
    raise typer.Exit(2)


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            out.append(p)
        else:
            console.print(f"[red]not found:[/red] {p}")
            raise typer.Exit(2)
    return out


@app.command()
def up() -> None:
    """Start Redis (if needed), the generator, worker, indexer, API and UI; Ctrl-C stops them all."""
    from askdocs import stack
    from askdocs.offline import go_offline
    from askdocs.supervisor import ServiceFailed, Supervisor

    go_offline()
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    def _interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C even when started from a shell that ignored SIGINT for background jobs; SIGTERM and
    # SIGHUP stop everything too, so no child outlives us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    sup = Supervisor(settings.data_dir / "logs", echo=console.print)
    t0 = time.monotonic()
    first_key = _first_admin_key(settings)
    try:
        console.print("askdocs: starting")
        redis_svc = stack.redis(settings) if settings.start_redis else None
        if redis_svc:
            sup.start(redis_svc)
        if settings.start_generator and not stack.generator_answers(settings):
            sup.start(stack.generator(settings))
        sup.start(stack.worker(settings, "ingest"))
        sup.start(stack.worker(settings, "index"))
        sup.start(stack.api(settings))
        sup.start(stack.ui(settings))
        console.print(
            f"\n[bold green]askdocs is ready[/bold green] in {time.monotonic() - t0:.0f} s\n"
            f"  UI:  http://127.0.0.1:{settings.ui_port}\n"
            f"  API: {settings.api_base}  (OpenAPI at {settings.api_base}/docs)\n"
            + (
                "  Authentication is OFF (ASKDOCS_AUTH=false): anyone who reaches these ports can "
                "read everything.\n"
                if not settings.auth
                else ""
            )
            + "Press Ctrl-C to stop."
        )
        if first_key:  # plain print: no wrapping inside the key
            print(f"First admin key (shown once; keep it): {first_key}", flush=True)
            print("Sign in to the UI with it; more keys: askdocs key create USER", flush=True)
        sup.watch()
    except KeyboardInterrupt:
        console.print("\naskdocs: stopping")
    except (ServiceFailed, RuntimeError) as e:
        console.print(f"[red]askdocs: {e}[/red]")
        sup.stop_all()
        raise typer.Exit(1) from None
    sup.stop_all()


def _first_admin_key(settings: Settings) -> str | None:
    """Make the catalog and, on the very first start with auth on, the admin user and its key."""
    from askdocs.auth import bootstrap_admin
    from askdocs.catalog import Catalog

    catalog = Catalog(settings.catalog_url).create()
    try:
        return bootstrap_admin(catalog) if settings.auth else None
    finally:
        catalog.engine.dispose()


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders"),  # noqa: B008
    collection: str = typer.Option("default", "--collection", "-c"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until every file is done."),
) -> None:
    """Upload files (folders are walked) and show their progress until each is ready or failed."""
    settings = Settings()
    files = _files(paths)
    if not files:
        console.print("nothing to ingest")
        raise typer.Exit(0)
    jobs: list[str] = []
    with _client(settings, timeout=600) as http, _progress() as bar:
        up_task = bar.add_task("uploading", total=len(files))
        for batch in _batches(files):
            handles = [f.open("rb") for f in batch]
            try:
                resp = http.post(
                    "/documents",
                    data={"collection": collection},
                    files=[("files", (f.name, h)) for f, h in zip(batch, handles, strict=True)],
                )
            finally:
                for h in handles:
                    h.close()
            if resp.status_code != 202:
                _fail(resp)
            jobs.append(resp.json()["id"])
            bar.advance(up_task, len(batch))
        if not wait:
            console.print(f"queued {len(files)} file(s); jobs: {', '.join(jobs)}")
            return
        done_task = bar.add_task("ingesting", total=len(files))
        while True:
            states = [http.get(f"/jobs/{j}").json() for j in jobs]
            finished = sum(
                n
                for s in states
                for k, n in s["counts"].items()
                if k in ("ready", "failed", "deleted")
            )
            bar.update(done_task, completed=finished)
            if all(s["done"] for s in states):
                break
            time.sleep(0.5)  # polling job state until every document is terminal
    docs = [d for s in states for d in s["documents"]]
    failed = [d for d in docs if d["status"] == "failed"]
    console.print(f"{len(docs) - len(failed)} ready, {len(failed)} failed")
    for d in failed:
        console.print(f"  [red]failed[/red] {d['name']}: {d['error']} ({d['error_code']})")
    if failed:
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command()
def ask(
    question: str,
    collection: str = typer.Option("default", "--collection", "-c"),
    k: int = typer.Option(None, "--k", help="Passages to use"),
) -> None:
    """Stream an answer, then list the sources it cites."""
    from ui.client import sse_events

    settings = Settings()
    with (
        _client(settings, timeout=settings.generator_timeout + 30) as http,
        http.stream(
            "POST", "/ask", json={"collection": collection, "question": question, "k": k}
        ) as resp,
    ):
        if resp.status_code != 200:
            resp.read()
            _fail(resp)
        final: dict | None = None
        for event, data in sse_events(resp.iter_lines()):
            if event == "token":
                sys.stdout.write(data["text"])  # type: ignore[index]
                sys.stdout.flush()
            elif event == "done":
                final = data  # type: ignore[assignment]
            elif event == "error":
                console.print(f"\n[red]{data['message']}[/red]")  # type: ignore[index]
                raise typer.Exit(3)
    print()
    if final and final["citations"]:
        console.print("\nSources:")
        for c in final["citations"]:
            page = f", page {c['page']}" if c["page"] is not None else ""
            console.print(f"  [{c['number']}] {c['document_name']}{page}")


@app.command()
def status() -> None:
    """Health of Redis, catalog and generator; documents per collection."""
    settings = Settings()
    try:
        with _client(settings, timeout=10) as http:
            health = http.get("/health").json()
            colls = http.get("/collections").json()
    except httpx.HTTPError as e:
        console.print(f"[red]API at {settings.api_base} unreachable:[/red] {e}")
        raise typer.Exit(2) from None
    console.print(f"askdocs: {health['status']}")
    for name, comp in health["components"].items():
        mark = "[green]ok[/green]" if comp.get("ok") else "[red]down[/red]"
        extra = {k: v for k, v in comp.items() if k != "ok"}
        console.print(f"  {name:10} {mark} {extra}")
    table = Table("collection", "documents", "ready", "index generation")
    for c in colls:
        table.add_row(c["name"], str(c["documents"]), str(c["ready"]), str(c["index_generation"]))
    console.print(table)
    if health["status"] != "ok":
        raise typer.Exit(1)


@app.command()
def reindex(collection: str) -> None:
    """Ask the indexer to rebuild a collection's vector and lexical indexes from the catalog."""
    from askdocs.celery_app import INDEX_QUEUE, REBUILD_TASK, create_celery

    settings = Settings()
    create_celery(settings).send_task(
        REBUILD_TASK, args=[collection], queue=INDEX_QUEUE, expires=settings.task_expires
    )
    console.print(f"rebuild of {collection} queued for the indexer")


register_access_commands(app)

eval_app = typer.Typer(help="Measure askdocs on your own relevance judgements.")
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Path = typer.Option(..., exists=True, help="BEIR corpus.jsonl"),  # noqa: B008
    queries: Path = typer.Option(..., exists=True, help="BEIR queries.jsonl"),  # noqa: B008
    qrels: Path = typer.Option(..., exists=True, help="qrels .tsv (query-id corpus-id score)"),  # noqa: B008
    modes: str = typer.Option("dense,lexical,hybrid", help="Comma-separated retrieval modes."),
    tuning: str = typer.Option("{}", help='JSON search overrides, e.g. {"fusion": "minmax"}'),
    limit: int = typer.Option(0, help="Evaluate only the first N judged queries (0 = all)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results here."),  # noqa: B008
) -> None:
    """Ingest a BEIR corpus through the normal pipeline into a scratch collection; print metrics."""
    from askdocs import eval_retrieval as ev

    settings = Settings()
    docs = ev.read_corpus(corpus)
    judged = ev.read_qrels(qrels)
    qs = [(str(q["_id"]), q["text"]) for q in ev.read_jsonl(queries) if str(q["_id"]) in judged]
    if limit:
        qs = qs[:limit]
    judged = {q: judged[q] for q, _ in qs}
    collection = ev.scratch_collection(corpus)
    with _client(settings, timeout=600) as http, _progress() as bar:
        task = bar.add_task(f"ingesting into {collection}", total=len(docs))
        doc_of = ev.ingest(
            http, docs, collection, lambda done, total: bar.update(task, completed=done)
        )
        rows = []
        for mode in [m.strip() for m in modes.split(",") if m.strip()]:
            qtask = bar.add_task(f"queries ({mode})", total=len(qs))
            run, took = ev.run_queries(
                http,
                collection,
                qs,
                mode,
                doc_of,
                options={"tuning": json.loads(tuning)},
                on_query=lambda t=qtask: bar.advance(t),
            )
            rows.append(ev.summary_row(mode, ev.evaluate(judged, run), took))
    table = Table(*rows[0].keys(), title=f"{len(qs)} queries, {len(docs)} documents")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
