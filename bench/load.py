"""Load and faults: does askdocs hold under load and lose nothing?

    .venv/bin/python bench/load.py [--repo DIR] [--clients 4] [--idle-seconds 60]
        [--load-seconds 60] [--ingest 40] [--big-mb 200] [--sync-files 30] [--json PATH]

Starts `askdocs up` (the code of ``--repo``, default this checkout; the packaged generator) on a
fresh data dir, seeds one collection with documents made from a BEIR corpus (text, Markdown and
PDF, each carrying a token of its own), then:

- idle: ``--clients`` threads each call /search or /health every ``--pace`` s, one more asks
  questions over the /ask stream and times the first token;
- load: the same, while an ingest of ``--ingest`` documents (one job, uploads of 16 files), a
  ``--big-mb`` MiB PDF upload (the API's RSS sampled meanwhile), a folder source's first sync of
  ``--sync-files`` files and a trickle of one-document uploads (each its own index batch: enough
  of them make the indexer merge segments) run;
- faults: while that work goes on, SIGKILL an API process, the ingest worker and the indexer, one
  after another (the last two once a burst of ``--burst`` uploaded documents is being parsed or
  indexed); whatever the stack does not start again, the bench does, and says so (``--supervise
  bench``: the bench runs `askdocs up`'s processes itself and starts a killed one again at once);
- end: waits until every acknowledged upload's job is done, runs `askdocs check`, and searches
  each document's token (lexical): found in exactly one document, in none (lost; or failed, with
  the reason), or in several (duplicated).

Prints one table (p50/p99 per window, errors by kind, RSS growth, check, lost/duplicated), and
writes the numbers to ``--json``. Times are wall-clock on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from askdocs.supervisor import free_port  # noqa: E402
from bench.load_clients import Clients, Recorder, Sample, summary, upload  # noqa: E402
from bench.load_docs import MadeFile, make_big, make_files, read_corpus  # noqa: E402
from bench.load_report import exactly_once, table  # noqa: E402
from bench.load_stack import BenchStack  # noqa: E402

COLLECTION = "load"
MIB = 1024 * 1024
BATCH = 16


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def stack_settings(args: argparse.Namespace, scratch: Path) -> dict[str, str]:
    api_port = free_port()
    settings = {
        "ASKDOCS_REDIS_URL": args.redis_url,
        "ASKDOCS_API_PORT": str(api_port),
        "ASKDOCS_API_URL": f"http://127.0.0.1:{api_port}",
        "ASKDOCS_UI_PORT": str(free_port()),
        "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{free_port()}/v1",
        "ASKDOCS_START_GENERATOR": "false" if args.no_ask else "true",
        # answers short: the time to the first token is what is measured, and the generator
        # serves one answer at a time
        "ASKDOCS_GENERATOR_MAX_TOKENS": str(args.answer_tokens),
        # the clients all come from one address with one key: counted, never refused
        "ASKDOCS_RATE_LIMIT_PER_KEY": "1000000",
        "ASKDOCS_RATE_LIMIT_PER_ADDRESS": "1000000",
        "ASKDOCS_MAX_UPLOAD_BYTES": str((args.big_mb + 16) * MIB),
        "ASKDOCS_MAX_REQUEST_BYTES": str(max(1024, args.big_mb + 64) * MIB),
        "ASKDOCS_SOURCES_FOLDER_ROOTS": str(scratch),
    }
    has_processes = "api_processes" in (args.repo / "core" / "settings.py").read_text()
    if args.api_processes is not None:
        if has_processes:
            settings["ASKDOCS_API_PROCESSES"] = str(args.api_processes)
        else:
            say("this checkout has no ASKDOCS_API_PROCESSES: --api-processes left out")
    return settings


def wait_jobs(http: httpx.Client, jobs: set[str], timeout: float) -> set[str]:
    """Poll the jobs until done or ``timeout``; the ones not done."""
    deadline = time.monotonic() + timeout
    left = set(jobs)
    last_said = 0.0
    while left and time.monotonic() < deadline:
        for job in list(left):
            try:
                r = http.get(f"/jobs/{job}")
                if r.status_code == 200 and r.json()["done"]:
                    left.discard(job)
            except httpx.HTTPError:
                pass
        if left and time.monotonic() - last_said > 30:
            say(f"  waiting for {len(left)} job(s) to finish")
            last_said = time.monotonic()
        time.sleep(1.0)  # polling the jobs, bounded by the deadline
    return left


def wait_sync(http: httpx.Client, source_id: str, timeout: float) -> dict[str, object]:
    """The source's first run once it ended and its documents settled (or where it stands)."""
    deadline = time.monotonic() + timeout
    run: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            runs = http.get(f"/sources/{source_id}/runs", params={"limit": 5}).json()
            run = runs[-1] if runs else {}
            docs = http.get("/documents", params={"collection": COLLECTION, "limit": 1000}).json()
        except (httpx.HTTPError, ValueError):
            time.sleep(1.0)
            continue
        mine = [d for d in docs if d.get("source_id") == source_id]
        busy = [d for d in mine if d["status"] not in ("ready", "failed", "cancelled")]
        if run.get("status") not in (None, "queued", "running") and not busy:
            return run
        time.sleep(1.0)  # polling the run, bounded by the deadline
    return {**run, "settled": False}


def merges(data: Path) -> int:
    """Segment merges the indexer logged so far (every indexer log of the run)."""
    return sum(
        len(re.findall(r"merged \S+: \d+ segments", p.read_text(errors="replace")))
        for p in (data / "logs").glob("*index*.log")
    )


def big_upload(
    stack: BenchStack, clients: Clients, rec: Recorder, big: MadeFile, out: dict[str, object]
) -> None:
    """Upload the big file, sampling the API processes' summed RSS meanwhile."""
    before = stack.api_rss()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, stack.api_rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    with clients.http() as http:
        job = upload(http, rec, COLLECTION, [big], "big", op="big_upload")
    took = time.monotonic() - t0
    done.set()
    sampler.join()
    out.update(
        {
            "mb": round(big.path.stat().st_size / MIB),
            "acknowledged": job is not None,
            "seconds": round(took, 1),
            "api_rss_before_mb": round(before / MIB, 1),
            "api_rss_peak_mb": round(peak / MIB, 1),
            "api_rss_growth_mb": round((peak - before) / MIB, 1),
        }
    )


def ingest(clients: Clients, rec: Recorder, files: list[MadeFile]) -> None:
    """One job, uploads of ``BATCH`` files, as `askdocs ingest` sends them."""
    with clients.http() as http:
        job = http.post("/jobs", json={"collection": COLLECTION}).json()["id"]
        for i in range(0, len(files), BATCH):
            upload(http, rec, COLLECTION, files[i : i + BATCH], "ingest", job, op="batch_upload")


# before each kill, a burst of documents is uploaded and the kill waits until one of them is in
# a state the killed process works on (the indexer's state is brief: caught when the poll sees it)
AIM = {"worker": ("parsing", "embedding"), "indexer": ("indexing",)}


def aim(http: httpx.Client, rec: Recorder, files: list[MadeFile], states: tuple[str, ...]) -> str:
    """Upload ``files`` in one request and wait (30 s at most) until one of them is in one of
    ``states``; what was seen."""
    job = upload(http, rec, COLLECTION, files, "burst", op="burst_upload")
    if job is None:
        return "the burst upload failed"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            docs = http.get(f"/jobs/{job}", params={"documents": "true"}).json()["documents"]
        except (httpx.HTTPError, ValueError, KeyError):
            docs = []
        busy = sorted({d["status"] for d in docs} & set(states))
        if busy:
            return f"a burst document was {busy[0]}"
        time.sleep(0.1)  # polling for the moment to strike, bounded by the deadline
    return f"no burst document seen {'/'.join(states)} within 30 s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repo", type=Path, default=ROOT, help="checkout whose stack runs")
    ap.add_argument("--data", type=Path, help="scratch dir (default: a new one under /tmp)")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6395/0", help="flushed first")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/data/scifact")
    ap.add_argument("--questions", type=int, default=6, help="seeded: their relevant documents")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--pace", type=float, default=0.5, help="seconds between a client's calls")
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument(
        "--load-seconds", type=float, default=60, help="at least; longer while uploads run"
    )
    ap.add_argument("--ingest", type=int, default=40)
    ap.add_argument("--trickle", type=int, default=100, help="one-document uploads, at most")
    ap.add_argument("--trickle-every", type=float, default=2.0)
    ap.add_argument("--big-mb", type=int, default=200)
    ap.add_argument("--sync-files", type=int, default=30)
    ap.add_argument("--api-processes", type=int, help="ASKDOCS_API_PROCESSES, where it exists")
    ap.add_argument("--no-ask", action="store_true", help="no generator, no /ask")
    ap.add_argument("--answer-tokens", type=int, default=16)
    ap.add_argument(
        "--supervise",
        choices=["up", "bench"],
        default="up",
        help="up: `askdocs up` runs the processes (the bench restarts what it does not); bench: "
        "the bench starts `askdocs up`'s processes itself and starts a killed one again at once",
    )
    ap.add_argument(
        "--burst", type=int, default=8, help="documents uploaded just before a worker/indexer kill"
    )
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--fault-gap", type=float, default=15, help="seconds after each recovery")
    ap.add_argument("--restart-wait", type=float, default=60)
    ap.add_argument("--settle-timeout", type=float, default=600)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.repo = args.repo.resolve()
    scratch = (args.data or Path(tempfile.mkdtemp(prefix="askdocs-load-"))).resolve()
    run = uuid.uuid4().hex[:6]
    say(f"stack code: {args.repo}; scratch: {scratch}; run {run}")

    if not (args.corpus / "corpus.jsonl").is_file():
        raise SystemExit(f"no BEIR corpus at {args.corpus}: give one with --corpus")
    corpus = read_corpus(args.corpus, args.questions)
    records = iter(corpus.records)
    take = lambda n: [next(records) for _ in range(n)]  # noqa: E731
    seed = make_files(scratch / "files", take(corpus.seeded), run, "seed")
    batch = make_files(scratch / "files", take(args.ingest), run, "ingest")
    trickle = make_files(scratch / "files", take(args.trickle), run, "trickle")
    synced = make_files(scratch / "folder", take(args.sync_files), run, "sync")
    bursts = make_files(scratch / "files", take(2 * args.burst), run, "burst")
    say(f"making the {args.big_mb} MiB PDF")
    big = make_big(scratch / "files", next(records), run, args.big_mb)
    queries = corpus.questions + [r.title for r in corpus.records[: corpus.seeded] if r.title]

    redis.Redis.from_url(args.redis_url).flushdb()
    stack = BenchStack.make(
        args.repo, scratch / "data", stack_settings(args, scratch), args.supervise
    )
    report: dict[str, object] = {
        "repo": str(args.repo),
        "args": vars(args) | {"repo": str(args.repo)},
    }
    rec = Recorder()
    say(
        "starting askdocs up"
        + (" (its processes, by the bench)" if args.supervise == "bench" else "")
    )
    clients: Clients | None = None
    try:
        say(f"  ready in {stack.start():.0f} s")
        assert stack.key is not None
        clients = Clients(stack.api_url, stack.key, COLLECTION, queries, corpus.questions, rec)
        with clients.http() as http:
            say(f"seeding {len(seed)} documents")
            seed_job = upload(http, rec, COLLECTION, seed, "seed", op="seed_upload")
            left = wait_jobs(http, {seed_job} if seed_job else set(), 900)
            if left or seed_job is None:
                raise SystemExit("the seed documents did not finish")
            http.post("/search", json={"collection": COLLECTION, "query": "warm up"})
            report["merges_before_load"] = merges(stack.data)

            clients.trickle_files = trickle
            clients.start(args.clients, args.pace, not args.no_ask, args.trickle_every)
            t_idle = time.monotonic()
            say(f"idle: {args.clients} clients for {args.idle_seconds:.0f} s")
            time.sleep(args.idle_seconds)  # the idle window: the clients measure meanwhile

            t_load = time.monotonic()
            say(
                f"load: ingest of {len(batch)}, {args.big_mb} MiB upload, sync of "
                f"{len(synced)} files, trickle of one-document uploads"
            )
            big_out: dict[str, object] = {}
            work = [
                threading.Thread(target=ingest, args=(clients, rec, batch)),
                threading.Thread(target=big_upload, args=(stack, clients, rec, big, big_out)),
            ]
            for t in work:
                t.start()
            source = http.post(
                "/sources",
                json={
                    "collection": COLLECTION,
                    "name": "load-folder",
                    "kind": "folder",
                    "config": {"path": str(scratch / "folder")},
                    "sync_now": True,
                },
            )
            source_id = source.json()["id"] if source.status_code < 300 else None
            if source_id is None:
                say(f"  the folder source was refused: {source.status_code} {source.text[:300]}")
            clients.trickle_on.set()
            for t in work:
                t.join()
            say(f"  big upload: {big_out}")
            rest = args.load_seconds - (time.monotonic() - t_load)
            if rest > 0:
                time.sleep(rest)  # the load window lasts at least --load-seconds

            t_fault = time.monotonic()
            recoveries = []
            if not args.no_faults:
                say("faults: kill -9 one process of each role while the work goes on")
                for role in ("api", "worker", "indexer"):
                    if role in AIM:
                        files, bursts = bursts[: args.burst], bursts[args.burst :]
                        say(f"  {aim(http, rec, files, AIM[role])}")
                    got = stack.kill(role, args.restart_wait, say)
                    say(f"  {role}: {got.outcome} after {got.seconds:.1f} s {got.detail}")
                    recoveries.append(got)
                    time.sleep(args.fault_gap)  # the work goes on between two kills
            t_end = time.monotonic()
            clients.trickle_on.clear()
            clients.stop()
            say("settling: waiting for every acknowledged upload's job")
            jobs = {a.job_id for a in rec.acked}
            unfinished = wait_jobs(http, jobs, args.settle_timeout)
            sync_run = wait_sync(http, source_id, args.settle_timeout) if source_id else {}
            say("askdocs check")
            check = stack.cli("check")
            say("searching every document's token")
            found = exactly_once(http, COLLECTION, rec.acked, synced)
            report.update(
                {
                    "windows_s": {
                        "idle": round(t_load - t_idle, 1),
                        "load": round(t_fault - t_load, 1),
                        "fault": round(t_end - t_fault, 1),
                    },
                    "idle": summary(rec.samples, t_idle, t_load),
                    "load": summary(rec.samples, t_load, t_fault),
                    "fault": summary(rec.samples, t_fault, t_end),
                    "big_upload": big_out,
                    "batch_uploads": outcomes(rec.samples, "batch_upload"),
                    "recoveries": [vars(r) for r in recoveries],
                    "merges_during_run": merges(stack.data) - int(report["merges_before_load"]),
                    "sync_run": {
                        k: sync_run.get(k)
                        for k in ("status", "listed", "new", "failed", "settled")
                        if k in sync_run
                    },
                    "jobs_unfinished": len(unfinished),
                    "check": {"exit": check.returncode, "lines": check_lines(check.stdout)},
                    "exactly_once": found,
                }
            )
    finally:
        if clients is not None:
            clients.stop()
        stack.stop()
    print(table(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        say(f"numbers written to {args.json}")


def outcomes(samples: list[Sample], op: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in samples:
        if s.op == op:
            counts[s.outcome] = counts.get(s.outcome, 0) + 1
    return counts


def check_lines(stdout: str) -> list[str]:
    """`askdocs check`'s plain lines (``collection: ok`` or ``PROBLEM (...)``)."""
    return [line for line in stdout.splitlines() if re.match(r"^\S+: (ok|PROBLEM)", line)]


if __name__ == "__main__":
    main()
