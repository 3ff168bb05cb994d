"""Ingestion throughput of the whole stack, against the embedding model alone on the same chunks.

    .venv/bin/python bench/ingest_throughput.py PATH [--workers 2]
    .venv/bin/python bench/ingest_throughput.py --generate 2000 [--workers 2]
    .venv/bin/python bench/ingest_throughput.py --generate 500 --base-chunks 200000

Starts its own `askdocs up` (no generator) on free ports with a scratch data dir and N ingest worker
processes, ingests PATH (a folder or files) as one job through the API, and prints documents/s,
pages/s and chunks/s from the first upload to the last document done. Then, in this process, it
embeds the very chunks the stack made (same text, same batch size) with the same model on all cores
and prints that rate too: ``ratio`` = stack chunks/s / model-alone chunks/s (the model is the floor
of what ingestion costs; the rest is parsing, queues and writes).

The floor of what ingestion costs is parsing and embedding: the bench then parses every file again
in this process and embeds the chunks on one thread (as a worker does), and prints their CPU
seconds, ``floor_s`` = (parse + embed CPU seconds) / cores and ``overhead`` = wall time / floor_s
(1.0: the stack adds nothing to the work itself; queues, catalog, index writes and idle cores make
the rest). ``stack_cpu_s`` says where the CPU went during the ingest, by process role (the parse
server's children count with ``parse``). The same work is also split over one process per core, run
at once (``busy_floor_s``, ``overhead_busy``): where cores slow each other down when all are busy,
the quiet floor would be out of reach. The timing starts once the stack is warm (``warm_up_s``: a
few one-line documents ingested, then the stack's CPU quiet): the workers load the model and start
their parse servers after the API answers, once per process, not per document.

With ``--base-chunks N`` it ingests the same files twice in the same stack: into an empty
collection, then into one that holds N chunks already (made directly, outside the timing: catalog
rows, lexical index, one vector segment), and prints both rates and ``size_ratio`` = rate into the
big one / rate into the empty one (1.0: the collection's size does not slow ingestion). Both runs use
a Flat-only HNSW threshold, so no HNSW build of the base runs inside the timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from askdocs import bulk, eval_retrieval  # noqa: E402
from bench import big_collection, stack  # noqa: E402
from bench.stack import running_stack  # noqa: E402
from client.http import ApiClient  # noqa: E402
from core.catalog import Catalog  # noqa: E402
from core.settings import Settings  # noqa: E402
from retrieval.embedding import Embedder, model_dim, model_label, passage_text  # noqa: E402

WORDS = [
    "ledger",
    "harbour",
    "quarterly",
    "revenue",
    "turbine",
    "orchard",
    "basalt",
    "invoice",
    "cobalt",
    "license",
    "warranty",
    "shipment",
    "audit",
    "forecast",
    "pipeline",
    "tariff",
    "reactor",
    "vineyard",
    "glacier",
    "compliance",
    "subsidy",
]


def generate(folder: Path, n: int) -> None:
    """``n`` small text files (2-4 short paragraphs each), in 20 sub-folders."""
    rng = random.Random(0)
    for i in range(n):
        paras = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 70))).capitalize() + "."
            for _ in range(rng.randint(2, 4))
        ]
        path = folder / f"part{i % 20:02d}" / f"note{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Note {i}\n\n" + "\n\n".join(paras) + "\n")


def ingest(
    http: ApiClient, collection: str, files: list[bulk.LocalFile]
) -> tuple[dict, float, float]:
    """Upload ``files`` into ``collection`` as one job and wait: (job with documents, upload
    seconds, seconds from the first upload to the last document done)."""
    t0 = time.monotonic()
    job_id = bulk.upload(http, collection, files)
    uploaded = time.monotonic() - t0
    while not http.job(job_id)["done"]:
        time.sleep(0.5)
    took = time.monotonic() - t0
    return http.job(job_id, documents=True), uploaded, took


def drain(data: Path, broker: redis.Redis) -> dict[str, float]:
    """Tasks still queued for the ingest workers when the last document is done (a task per
    document that a batch finished early still runs, to find it done), and the stack's CPU
    seconds and wall seconds until they are gone: work the stack does after the timing."""
    left = int(broker.llen("ingest"))
    before, t0 = sum(stack.cpu_by_role(data).values()), time.monotonic()
    # (a task put off until another worker's lease ends waits unacked: at most 5 minutes here)
    while (broker.llen("ingest") or broker.hlen("unacked")) and time.monotonic() - t0 < 300:
        time.sleep(0.2)
    return {
        "ingest_tasks_left": left,
        "drain_s": round(time.monotonic() - t0, 1),
        "drain_cpu_s": round(sum(stack.cpu_by_role(data).values()) - before, 1),
    }


def local_files(paths: list[Path]) -> list[bulk.LocalFile]:
    return [
        bulk.LocalFile(p, name, p.stat().st_size, bulk.sha256_file(p))
        for p, name in bulk.walk(paths)
    ]


def warm_up(http: ApiClient, data: Path, n: int) -> float:
    """Wait until the stack ingests at full speed; returns the seconds it took. The API answers
    before the ingest workers have loaded the model (on a new data dir: exported it to ONNX) and
    started their parse servers; that start is paid once per process, not per document, so the
    timing leaves it out: ``n`` one-line documents go into a collection of their own, then the
    stack's CPU must be quiet (under 5% of a core over a second)."""
    t0 = time.monotonic()
    folder = data / "warm-up"
    folder.mkdir()
    for i in range(n):
        (folder / f"warm{i}.txt").write_text(f"Warm-up note {i}.\n")
    ingest(http, "warm-up", local_files([folder]))
    before = sum(stack.cpu_by_role(data).values())
    while time.monotonic() - t0 < 600:
        time.sleep(1.0)  # CPU seconds over the last second: polled, not waited out
        now = sum(stack.cpu_by_role(data).values())
        if now - before < 0.05:
            break
        before = now
    return time.monotonic() - t0


def freshness(http: ApiClient, collection: str, tries: int = 5) -> list[float]:
    """Seconds from the indexer's commit (the catalog says ``ready``: the indexer sets it in the
    commit that records the new segment) to the first search that returns the document, for
    ``tries`` single-document uploads one after another. Both are polled every 10 ms."""
    out = []
    for i in range(tries):
        word = f"zq{random.randrange(10**9):09d}fresh{i}"
        job_id = http.upload(collection, [(f"fresh-{word}.txt", f"Probe {word}.".encode(), None)])[
            "id"
        ]
        doc_id = http.job(job_id, documents=True)["documents"][0]["id"]
        while http.request("GET", f"/documents/{doc_id}")["status"] != "ready":
            time.sleep(0.01)
        committed = time.monotonic()
        body = {"collection": collection, "query": word, "k": 3}
        while not any(p["document_id"] == doc_id for p in http.search(body)["passages"]):
            time.sleep(0.01)
        out.append(round(time.monotonic() - committed, 3))
    return out


def beir_quality(http: ApiClient, beir: Path, state: dict) -> dict[str, float]:
    """Hybrid nDCG@10 and recall@100 of the train qrels over what was just ingested."""
    qrels = eval_retrieval.read_qrels(beir / "qrels" / "train.tsv")
    queries = [
        (str(q["_id"]), q["text"])
        for q in eval_retrieval.read_jsonl(beir / "queries.jsonl")
        if str(q["_id"]) in qrels
    ]
    doc_of = {d["id"]: d["name"].removesuffix(".md") for d in state["documents"]}
    run, _took = eval_retrieval.run_queries(http, "bench", queries, "hybrid", doc_of)
    found = eval_retrieval.evaluate(qrels, run)
    return {
        "hybrid_ndcg10": round(found["nDCG@10"], 4),
        "hybrid_recall100": round(found["recall@100"], 4),
    }


def parse_cpu_seconds(files: list[bulk.LocalFile], settings: Settings, warm: bool = True) -> float:
    """CPU seconds of parsing every file once, in this process, as a worker would (same reader,
    tables and OCR settings); files that fail count what they cost until they failed."""
    from ingest import parsing
    from ingest.errors import IngestError

    def parse(f: bulk.LocalFile) -> None:
        with contextlib.suppress(IngestError):
            parsing.parse(
                f.path,
                f.name,
                ocr=settings.ocr,
                max_pages=settings.max_pages,
                pdf_tables=settings.pdf_tables,
                pdf_reader=settings.pdf_reader,
            )

    if warm:
        parse(files[0])  # the parsers' imports and first-use setup, outside the count
    t = cpu_seconds()
    for f in files:
        parse(f)
    return cpu_seconds() - t


def cpu_seconds() -> float:
    """CPU seconds of this process and of the children it waited for (tesseract, LibreOffice)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def model_alone(settings: Settings, threads: int | None) -> Embedder:
    """The passage encoder the ingest workers use (onnxruntime or torch, as the settings say), its
    ONNX export in a temporary directory."""
    onnx_dir = Path(tempfile.mkdtemp(prefix="askdocs-onnx-")) if settings.onnx_passages else None
    embedder = Embedder(
        settings.embedding_model,
        batch_size=settings.embed_batch_size,
        threads=threads,
        onnx_dir=onnx_dir,
        onnx_passages=settings.onnx_passages,
    ).load()
    embedder.enable_onnx()
    return embedder


def embed_cpu_seconds(texts: list[str], settings: Settings) -> float:
    """CPU seconds of embedding ``texts`` on one thread, as an ingest process does."""
    embedder = model_alone(settings, threads=1)
    embedder.embed(texts[:64])
    t = time.process_time()
    embedder.embed(texts)
    return time.process_time() - t


def _floor_share(files: list[bulk.LocalFile], texts: list[str], start: Any, out: Any) -> None:
    """One process's share of the busy floor: warm up, wait for the others, then parse its files
    and embed its texts on one thread; puts (parse CPU s, embed CPU s, wall s) on ``out``."""
    settings = Settings()
    embedder = model_alone(settings, threads=1)
    embedder.embed(texts[:8])
    parse_cpu_seconds(files[:1], settings, warm=False)  # the parsers' imports, outside the count
    start.wait()
    t0 = time.monotonic()
    parse_cpu = parse_cpu_seconds(files, settings, warm=False)
    c1 = time.process_time()
    embedder.embed(texts)
    embed_cpu = time.process_time() - c1
    out.put((parse_cpu, embed_cpu, time.monotonic() - t0))


def busy_floor(files: list[bulk.LocalFile], texts: list[str], n: int) -> dict[str, float]:
    """The same parse and embedding work split over ``n`` processes that run at once, as the
    stack's processes do: on machines whose cores slow each other down when all are busy (shared
    caches, memory bandwidth, a hypervisor's siblings), CPU seconds measured on a quiet machine
    understate what the work costs with every core busy. Prints those CPU seconds / cores
    (``busy_floor_s``) and the wall time of the work itself on all cores (``busy_floor_wall_s``)."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_floor_share, args=(files[i::n], texts[i::n], start, out))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    shares = [out.get() for _ in procs]
    for p in procs:
        p.join()
    parse_cpu = sum(s[0] for s in shares)
    embed_cpu = sum(s[1] for s in shares)
    return {
        "busy_parse_cpu_s": round(parse_cpu, 1),
        "busy_embed_cpu_s": round(embed_cpu, 1),
        "busy_floor_s": round((parse_cpu + embed_cpu) / n, 1),
        "busy_floor_wall_s": round(max(s[2] for s in shares), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", type=Path)
    ap.add_argument("--generate", type=int, default=0, help="Make this many small files instead.")
    ap.add_argument(
        "--beir",
        type=Path,
        help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/train.tsv): its documents as "
        "Markdown files, as `askdocs eval retrieval` uploads them; prints hybrid nDCG@10 too.",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--base-chunks", type=int, default=0, help="Also ingest into a collection this large."
    )
    ap.add_argument(
        "--no-floor",
        action="store_true",
        help="Skip measuring the parse and one-thread embedding CPU seconds (long for a big corpus).",
    )
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="askdocs-throughput-"))
    source = args.path
    if args.generate:
        source = data / "generated"
        generate(source, args.generate)
    if args.beir:
        source = data / "beir"
        source.mkdir()
        for doc in eval_retrieval.read_corpus(args.beir / "corpus.jsonl"):
            (source / f"{doc.id}.md").write_bytes(doc.as_markdown())
    if source is None:
        ap.error("give PATH, --generate N or --beir DIR")
    extra = {"hnsw_threshold": str(10**9)} if args.base_chunks else {}
    with running_stack(data, worker_concurrency=str(args.workers), **extra) as http:
        files = local_files([source])
        warm_s = warm_up(http, data, 2 * args.workers)
        cpu_before = stack.cpu_by_role(data)
        state, uploaded, took = ingest(http, "bench", files)
        cpu_after = stack.cpu_by_role(data)
        drained = drain(data, redis.Redis.from_url(stack.redis_url()))
        quality = beir_quality(http, args.beir, state) if args.beir else {}
        stack_cpu = {
            role: round(cpu_after[role] - cpu_before.get(role, 0.0), 1)
            for role in sorted(cpu_after)
        }
        big: dict[str, float] = {}
        if args.base_chunks:
            settings = Settings(data_dir=data)
            big_collection.build(
                Catalog(settings.catalog_url),
                settings.index_dir,
                "big",
                args.base_chunks,
                model_label(settings.embedding_model),
                model_dim(settings.embedding_model),
                10**9,
            )
            cpu_before = stack.cpu_by_role(data)
            big_state, _, big_took = ingest(http, "big", files)
            api_cpu = stack.cpu_by_role(data).get("api", 0.0) - cpu_before.get("api", 0.0)
            t_cold = time.monotonic()  # the API's first search of the big collection loads it whole
            http.search({"collection": "big", "query": "warm up", "k": 3})
            cold = time.monotonic() - t_cold
            fresh = freshness(http, "big")
            big = {
                "first_search_of_big_s": round(cold, 2),
                # the API's CPU while the big collection took the batches, as a share of one core
                # (an upper bound of its loading: it also answered the bench's job polls)
                "api_cpu_share_of_one_core": round(api_cpu / big_took, 3),
                "freshness_s": fresh,
                "freshness_max_s": max(fresh),
                "base_chunks": args.base_chunks,
                "empty_collection_docs_per_s": round(len(files) / took, 2),
                "big_collection_docs_per_s": round(len(files) / big_took, 2),
                "size_ratio": round(took / big_took, 2),
                "big_failed": sum(d["status"] == "failed" for d in big_state["documents"]),
            }
    docs = state["documents"]
    ready = [d for d in docs if d["status"] == "ready"]
    pages = sum(d["pages"] or 0 for d in ready)
    chunks = sum(d["chunks"] or 0 for d in ready)

    # the model alone, on the same chunks, in this process, on every core
    db = sqlite3.connect(data / "catalog.db")

    texts = [
        passage_text(h, t, name)
        for h, t, name in db.execute(
            "SELECT c.heading, c.text, d.name FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.status = 'ready' AND d.collection_id = 'bench'"
        )
    ]
    settings = Settings()
    embedder = model_alone(settings, threads=os.cpu_count())
    embedder.embed(texts[:64])  # warm up
    t1 = time.monotonic()
    embedder.embed(texts)
    alone = time.monotonic() - t1
    stack_rate = chunks / took
    model_rate = len(texts) / alone
    floor_parts: dict[str, float] = {}
    if not args.no_floor:
        parse_cpu = parse_cpu_seconds(files, settings)
        embed_cpu = embed_cpu_seconds(texts, settings)
        floor = (parse_cpu + embed_cpu) / (os.cpu_count() or 1)
        floor_parts = {
            "parse_cpu_s": round(parse_cpu, 1),
            "embed_cpu_s": round(embed_cpu, 1),
            "floor_s": round(floor, 1),
            "overhead": round(took / floor, 2),
        }
        cores = os.cpu_count() or 1
        if cores > 1:
            busy = busy_floor(files, texts, cores)
            floor_parts.update(busy, overhead_busy=round(took / busy["busy_floor_s"], 2))
    print(
        json.dumps(
            {
                "source": str(args.path or args.beir or f"--generate {args.generate}"),
                "workers": args.workers,
                "cores": os.cpu_count(),
                "documents": len(docs),
                "ready": len(ready),
                "failed": {d["name"]: d["error_code"] for d in docs if d["status"] == "failed"},
                "pages": pages,
                "chunks": chunks,
                "warm_up_s": round(warm_s, 1),
                "upload_s": round(uploaded, 1),
                "upload_to_all_done_s": round(took, 1),
                "documents_per_s": round(len(docs) / took, 2),
                "pages_per_s": round(pages / took, 2),
                "chunks_per_s": round(stack_rate, 1),
                "model_alone_chunks_per_s": round(model_rate, 1),
                "encoder": "onnxruntime" if settings.onnx_passages else "torch",
                "ratio": round(stack_rate / model_rate, 2),
                **floor_parts,
                "stack_cpu_s": stack_cpu,
                "stack_cpu_total_s": round(sum(stack_cpu.values()), 1),
                **drained,
                **quality,
                **big,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
