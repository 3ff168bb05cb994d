"""Prometheus metrics of every askdocs process: their names in one place, and the exposition.

The only module that imports ``prometheus_client``. Under ``askdocs up`` every process (API, the
ingest worker's pool children, the indexer) is started with ``PROMETHEUS_MULTIPROC_DIR`` set to
``DATA_DIR/metrics`` (emptied at each start), so their counters and histograms land in one directory
and the API's ``/metrics`` reports all of them (prometheus-client's multiprocess mode; the variable
must be set before this module is imported, which the environment of a started process is). A
process without it (a test, the CLI) keeps its metrics in memory and reports its own.

What describes state rather than events (documents by state, index generation, segments and vectors
per collection, queue depth) is read at scrape time from the catalog and the broker, by collectors
the API adds (``render``'s ``extra``), so they are right whichever process changed them. The few
gauges of a process's own state (``EMBEDDING_MODEL_UP``) take a "live" multiprocess mode: the files
of processes that died (an API process killed and restarted by uvicorn) are dropped at each scrape.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_ENV):  # the metrics below write their files there from the start
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "askdocs_http_requests", "HTTP requests answered by the API.", ["route", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "askdocs_http_request_seconds", "Time to answer an HTTP request (headers sent).", ["route"]
)
SEARCH_SECONDS = Histogram(
    "askdocs_search_seconds",
    "Retrieval time of one search or question, by retrieval mode.",
    ["mode"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
ASK_FIRST_TOKEN_SECONDS = Histogram(
    "askdocs_ask_first_token_seconds",
    "From a question's arrival to the first token of its answer.",
    buckets=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0),
)
ASK_TOKENS_PER_SECOND = Histogram(
    "askdocs_ask_tokens_per_second",
    "Generation speed of an answer, after its first token.",
    buckets=(1, 2, 5, 10, 20, 40, 80, 160, 320),
)
GENERATOR_ERRORS = Counter(
    "askdocs_generator_errors", "Questions the generator failed to answer.", ["reason"]
)
INGEST_DOCUMENTS = Counter(
    "askdocs_ingest_documents",
    "Documents an ingest worker finished: handed to the indexer (code 'ok') or failed (its code).",
    ["outcome", "code"],
)
PARSE_SECONDS = Histogram(
    "askdocs_parse_seconds",
    "Time to parse one document, by file type (its extension).",
    ["type"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
PARSE_PAGES = Counter("askdocs_parse_pages", "Pages parsed, by file type.", ["type"])
EMBED_CHUNKS = Counter("askdocs_embed_chunks", "Chunks embedded by the ingest workers.")
EMBED_SECONDS = Counter(
    "askdocs_embed_seconds", "Seconds spent embedding (chunks/s = rate of chunks / rate of this)."
)
INDEX_BATCH_DOCUMENTS = Histogram(
    "askdocs_index_batch_documents",
    "Documents the indexer made searchable in one commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
INDEX_COMMIT_SECONDS = Histogram(
    "askdocs_index_commit_seconds",
    "Time of one indexer step: segment and lexical writes and the catalog commit.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SOURCE_RUNS = Counter(
    "askdocs_source_runs",
    "Sync runs of sources that ended, by kind and how (done, failed, interrupted).",
    ["kind", "status"],
)
SOURCE_RUN_SECONDS = Histogram(
    "askdocs_source_run_seconds",
    "Time of one sync run (listing, fetching and queueing; not the ingestion that follows).",
    ["kind"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
# One gauge of a process's own state (kept in memory, unlike the catalog's at scrape time): with
# several API processes, the lowest of the live ones, so that 0 means some process cannot encode.
EMBEDDING_MODEL_UP = Gauge(
    "askdocs_embedding_model_up",
    "1 when an API process encodes queries with this embedding model, 0 while its load fails "
    "(dense search of its collections off; tried again with backoff); the lowest of the live "
    "API processes.",
    ["model"],
    multiprocess_mode="livemin",
)
EMBEDDING_MODEL_LOAD_FAILURES = Counter(
    "askdocs_embedding_model_load_failures",
    "Failed loads of an embedding model in the API, by the exception's class.",
    ["model", "error"],
)
SOURCE_DOCUMENTS = Counter(
    "askdocs_source_documents",
    "What sync runs did with what they listed: new, changed, unchanged, renamed, deleted, failed.",
    ["kind", "action"],
)

# File types get a label of their own; anything else is "other" (a label per user-chosen
# extension would grow without bound).
KNOWN_TYPES = frozenset(
    [
        "pdf",
        "docx",
        "doc",
        "pptx",
        "ppt",
        "xlsx",
        "xls",
        "odt",
        "ods",
        "odp",
        "rtf",
        "txt",
        "md",
        "rst",
        "org",
        "html",
        "htm",
        "xml",
        "csv",
        "tsv",
        "json",
        "eml",
        "msg",
        "epub",
        "png",
        "jpg",
        "jpeg",
        "tiff",
        "zip",
    ]
)


def file_type(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    return suffix if suffix in KNOWN_TYPES else "other"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def fresh_multiprocess_dir(path: Path) -> dict[str, str]:
    """Empty ``path`` for a new start of the stack; the environment its processes need."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return {MULTIPROC_ENV: str(path)}


class _Extra:
    """A collector of metrics read at scrape time (an adapter for ``render``'s ``extra``)."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        yield from self._collect()


class _Own:
    """This process's metrics (without multiprocess mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the live-mode gauge files of processes that are gone (prometheus-client's
    ``mark_process_dead``); their counters and histograms stay counted. Returns their pids."""
    dead = set()
    for f in path.glob("gauge_live*_*.db"):
        pid = f.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            dead.add(int(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))
    return sorted(dead)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path is not None:
        forget_dead_processes(path)
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Own())
    return registry


def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve this process's metrics (and its children's, in multiprocess mode) on ``port``, from
    a thread: a worker or indexer whose metrics no API of the same host reads (one container
    each, say)."""
    start_http_server(port, addr=host, registry=_registry())


def render(extra: Iterable[Callable[[], Iterable[Metric]]] = ()) -> bytes:
    """The text exposition of every process's metrics plus ``extra`` collectors' (each a function
    yielding metric families, called now)."""
    registry = _registry()
    for collect in extra:
        registry.register(_Extra(collect))
    return generate_latest(registry)


def gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    """A gauge family for a scrape-time collector."""
    return GaugeMetricFamily(name, documentation, labels=labels)
