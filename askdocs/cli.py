"""`askdocs`: start the stack, ingest files, ask questions, show status. Talks to the API over HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from askdocs import backup as backups
from askdocs import bulk, stack
from askdocs.cli_access import register as register_access_commands
from askdocs.cli_ops import register as register_ops_commands
from askdocs.cli_sources import register as register_source_commands
from askdocs.supervisor import ServiceFailed, Supervisor
from client.http import ApiClient, ApiError
from core import metrics
from core.auth import bootstrap_admin
from core.catalog import Catalog
from core.celery_app import INDEX_QUEUE, REBUILD_TASK, TASK_EXPIRES_SECONDS, create_celery
from core.data_dir import make_private
from core.offline import go_offline
from core.settings import Settings
from generation.prompt import pages_label

app = typer.Typer(
    help="askdocs: ask questions of your own documents, offline.", no_args_is_help=True
)
console = Console()


def _client(settings: Settings, timeout: float = 60.0) -> ApiClient:
    return ApiClient(settings.api_base, settings.api_key, timeout)


def _fail(e: ApiError) -> NoReturn:
    console.print(f"[red]error[/red] {e}")
    raise typer.Exit(2) from None


@app.command()
def up() -> None:
    """Start Redis (if needed), the generator, worker, indexer, sources worker, scheduler, API and
    UI; Ctrl-C stops them all."""

    go_offline()
    settings = Settings()
    make_private(settings.data_dir)  # secret.key, catalog, originals: this user's alone

    def _interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C even when started from a shell that ignored SIGINT for background jobs; SIGTERM and
    # SIGHUP stop everything too, so no child outlives us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    sup = Supervisor(settings.data_dir / "logs", echo=console.print)
    # every process's metrics in one directory, which the API's /metrics reads (core/metrics.py)
    os.environ.update(metrics.fresh_multiprocess_dir(settings.data_dir / "metrics"))
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
        if settings.start_sources:
            sup.start(stack.worker(settings, "sources"))
            sup.start(stack.worker(settings, "beat"))
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
    """Make the catalog (an older one is copied first, then migrated) and, on the very first start
    with auth on, the admin user and its key."""
    backups.before_upgrade(settings, echo=console.print)

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
    sync: bool = typer.Option(
        False, "--sync", help="Also delete documents of the collection whose file is gone."
    ),
    keep_both: bool = typer.Option(
        False, "--keep-both", help="A changed file is added beside the old version, not over it."
    ),
) -> None:
    """Upload files (folders are walked; names are paths inside them), skipping unchanged ones by
    hash, all in one job; show its progress until every file is ready or failed."""

    settings = Settings()
    try:
        found = list(bulk.walk(paths))
    except FileNotFoundError as e:
        console.print(f"[red]not found:[/red] {e}")
        raise typer.Exit(2) from None
    with _client(settings, timeout=600) as http, _progress() as bar:
        try:
            hashing = bar.add_task("hashing", total=len(found))
            files = []
            for path, name in found:
                files.append(
                    bulk.LocalFile(path, name, path.stat().st_size, bulk.sha256_file(path))
                )
                bar.advance(hashing)
            held = bulk.known(http, collection, [f.sha256 for f in files])
            new = [f for f in files if f.sha256 not in held]
            removed = 0
            if sync:
                for d in bulk.vanished(http, collection, {f.name for f in files}):
                    http.delete_document(d["id"])
                    removed += 1
            summary = f"{len(files) - len(new)} unchanged" + (
                f", {removed} removed" if sync else ""
            )
            if not new:
                bar.stop()
                console.print(f"nothing new to ingest ({summary})")
                return
            up_task = bar.add_task("uploading", total=len(new))
            job_id = bulk.upload(
                http,
                collection,
                new,
                replace=not keep_both,
                on_batch=lambda n: bar.advance(up_task, n),
            )
            if not wait:
                bar.stop()
                console.print(f"queued {len(new)} file(s) in job {job_id}; {summary}")
                return
            done_task = bar.add_task("ingesting", total=len(new))
            while True:
                state = http.job(job_id)
                eta = f", ETA {state['eta_s']:.0f} s" if state["eta_s"] is not None else ""
                bar.update(
                    done_task,
                    completed=state["finished"],
                    description=f"ingesting ({state['pages']} pages{eta})",
                )
                if state["done"]:
                    break
                time.sleep(1)  # polling the job's numbers until every document is terminal
            state = http.job(job_id, documents=True)
        except ApiError as e:
            console.print(f"[red]error[/red] {e}")
            raise typer.Exit(2) from None
    docs = state["documents"]
    failed = [d for d in docs if d["status"] == "failed"]
    console.print(f"{len(docs) - len(failed)} ready, {len(failed)} failed ({summary})")
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
    conversation: str = typer.Option(
        None, "--conversation", help="Continue this conversation (printed after each answer)"
    ),
) -> None:
    """Stream an answer, then list the sources it cites."""
    settings = Settings()
    final: dict | None = None
    with _client(settings, timeout=settings.generator_timeout + 30) as http:
        try:
            events = http.ask(
                collection, question, conversation, k, settings.generator_timeout + 30
            )
            for event, data in events:
                if event == "token":
                    sys.stdout.write(data["text"])
                    sys.stdout.flush()
                elif event == "done":
                    final = data
                elif event == "error":
                    console.print(f"\n[red]{data['message']}[/red]")
                    raise typer.Exit(3)
        except ApiError as e:
            _fail(e)
    print()
    if final and final["citations"]:
        console.print("\nSources:")
        for c in final["citations"]:
            end = None if c.get("span") else c.get("page_end")  # the supporting sentence's page
            page = f", {pages_label(c['page'], end)}" if c["page"] is not None else ""
            mark = "" if c["supported"] else "  (the cited passage does not hold this claim)"
            console.print(f"  [{c['number']}] {c['document_name']}{page}{mark}")
    if final:
        console.print(f"\nFollow up with --conversation {final['conversation_id']}")


@app.command()
def status() -> None:
    """Health of Redis, catalog and generator; documents per collection."""
    settings = Settings()
    try:
        with _client(settings, timeout=10) as http:
            health = http.health()
            colls = http.collections()
    except ApiError as e:
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
def retry(
    collection: str,
    code: list[str] = typer.Option(  # noqa: B008
        [], "--code", help="Only documents failed with this code (repeatable), e.g. unavailable."
    ),
    failed_only: bool = typer.Option(False, "--failed-only", help="Leave cancelled ones alone"),
) -> None:
    """Run a collection's failed (and cancelled) documents again, from the start."""
    settings = Settings()
    statuses = ["failed"] if failed_only else ["failed", "cancelled"]
    try:
        with _client(settings) as http:
            n = http.retry_collection(collection, statuses, code)
    except ApiError as e:
        _fail(e)
    console.print(f"{n} document(s) of {collection} queued again")


@app.command()
def reindex(collection: str) -> None:
    """Ask the indexer to rebuild a collection's vector and lexical indexes from the catalog."""

    settings = Settings()
    create_celery(settings).send_task(
        REBUILD_TASK, args=[collection], queue=INDEX_QUEUE, expires=TASK_EXPIRES_SECONDS
    )
    console.print(f"rebuild of {collection} queued for the indexer")


register_access_commands(app)
register_ops_commands(app)
register_source_commands(app)

eval_app = typer.Typer(help="Measure askdocs on your own relevance judgements.")
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Path = typer.Option(..., exists=True, help="BEIR corpus.jsonl"),  # noqa: B008
    queries: Path = typer.Option(..., exists=True, help="BEIR queries.jsonl"),  # noqa: B008
    qrels: Path = typer.Option(..., exists=True, help="qrels .tsv (query-id corpus-id score)"),  # noqa: B008
    modes: str = typer.Option(
        "",
        help="Comma-separated: dense, lexical, hybrid, rerank (hybrid rescored by the server's "
        "cross-encoder). Default: the first three, and rerank when the server has one.",
    ),
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
        chosen = [m.strip() for m in modes.split(",") if m.strip()] or ev.default_modes(http)
        for mode in chosen:
            qtask = bar.add_task(f"queries ({mode})", total=len(qs))
            tops: dict[str, list[str]] = {}
            run, took = ev.run_queries(
                http,
                collection,
                qs,
                mode,
                doc_of,
                options={"tuning": json.loads(tuning)},
                on_query=lambda t=qtask: bar.advance(t),
                tops=tops,
            )
            found = {**ev.evaluate(judged, run), **ev.document_spread(tops, judged)}
            rows.append(ev.summary_row(mode, found, took))
    table = Table(*rows[0].keys(), title=f"{len(qs)} queries, {len(docs)} documents")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console(width=max(console.width, 132)).print(table)  # nine columns: no header cut short
    if json_out:
        json_out.write_text(json.dumps(rows, indent=2))


@eval_app.command("answers")
def eval_answers(
    docs: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of documents"),  # noqa: B008
    qa: Path = typer.Option(..., exists=True, help="QA file: CSV (Question, Answer) or JSONL"),  # noqa: B008
    limit: int = typer.Option(0, help="Ask only the first N questions (0 = all)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results here."),  # noqa: B008
    in_process: bool = typer.Option(
        False,
        "--in-process",
        help="Ask through the answer service in this process (same catalog, indexes and "
        "generator as the server), not over HTTP; ingestion still goes through the API.",
    ),
) -> None:
    """Ingest a folder into a scratch collection through the normal pipeline, ask every question,
    print answer accuracy, citation precision, abstain rate, time to first token and tokens/s."""
    from askdocs import eval_answers as ev

    settings = Settings()
    pairs = ev.read_qa(qa)
    if limit:
        pairs = pairs[:limit]
    collection = ev.scratch_collection(docs)
    files = [
        bulk.LocalFile(path, name, path.stat().st_size, bulk.sha256_file(path))
        for path, name in bulk.walk([docs])
    ]
    results = []
    with _client(settings, timeout=settings.generator_timeout + 60) as http, _progress() as bar:
        try:
            held = bulk.known(http, collection, [f.sha256 for f in files])
            new = [f for f in files if f.sha256 not in held]
            if new:
                job_id = bulk.upload(http, collection, new)
                task = bar.add_task(f"ingesting into {collection}", total=len(new))
                while not (state := http.job(job_id))["done"]:
                    bar.update(task, completed=state["finished"])
                    time.sleep(1)  # polling the job's numbers until every document is terminal
                bar.update(task, completed=state["finished"])
        except ApiError as e:
            console.print(f"[red]error[/red] {e}")
            raise typer.Exit(2) from None
        ask = ev.in_process_asker(settings) if in_process else ev.http_asker(http)
        qtask = bar.add_task("questions", total=len(pairs))
        for item in pairs:
            results.append((item, ev.outcome(ask(collection, item.question))))
            bar.advance(qtask)
    summary = ev.summarize(results)
    console.print(ev.generator_line(settings))
    table = Table("metric", "value", title=f"{len(pairs)} questions over {len(files)} files")
    for k, v in summary.items():
        table.add_row(k, str(v))
    console.print(table)
    if json_out:
        rows = [
            {"question": q.question, "gold": q.answer, **dataclasses.asdict(o)} for q, o in results
        ]
        out = {"generator": ev.generator_line(settings), "summary": summary, "answers": rows}
        json_out.write_text(json.dumps(out, indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
