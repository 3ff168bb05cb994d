"""docs/settings.md, from the Settings model: every setting, grouped by what an operator decides.

python scripts/settings_table.py           # print the page
python scripts/settings_table.py --write   # write docs/settings.md

Defaults, types and descriptions come from ``core.settings.Settings``; the group of each setting and
when to change it are below, in GROUPS. A setting missing from GROUPS lands in "Not grouped yet", and
tests/unit/test_docs_settings.py fails until it has a row here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from core.settings import Settings  # noqa: E402

TARGET = ROOT / "docs" / "settings.md"

# (title, what the group decides, {setting: when to change it})
GROUPS: list[tuple[str, str, dict[str, str]]] = [
    (
        "Where it runs",
        "Where data lives, which services `askdocs up` starts, and where the processes listen.",
        {
            "data_dir": "Put the data on a disk with room for the originals, their indexes and the "
            "models; one shared volume for several hosts (see Operations).",
            "database_url": "More than one host, or many writers: a PostgreSQL URL "
            "(`postgresql+psycopg://...`).",
            "redis_url": "Redis runs elsewhere, or shares a server with other applications (use "
            "a database of its own).",
            "start_redis": "Redis is managed outside askdocs: false.",
            "start_generator": "The generator is a vLLM (or other) server elsewhere: false, with "
            "`ASKDOCS_GENERATOR_URL`.",
            "start_sources": "No sources are used, or the sources worker and scheduler run on "
            "another host: false.",
            "api_host": "Other machines (a reverse proxy) must reach the API: `0.0.0.0` or the "
            "host's address.",
            "api_port": "Port 8000 is taken.",
            "api_url": "The UI or CLI reach the API through another address (a proxy, another "
            "host).",
            "ui_port": "Port 8501 is taken.",
            "secret_key": "Keep the key that encrypts source tokens outside the data dir (a "
            "secret store); back it up apart from the data.",
            "log_format": "Logs are read by people on a terminal rather than shipped: `text`.",
        },
    ),
    (
        "Capacity",
        "How many processes and threads do the work, and what they keep in memory. Defaults fit a "
        "laptop; raise them with cores and memory.",
        {
            "worker_concurrency": "The ingest worker should leave cores to the API or the "
            "generator on the same host (set a number below the core count).",
            "api_processes": "More cores for search: about one per core the API may use; each "
            "process holds its own query encoder and small segments (~650-700 MiB).",
            "sources_concurrency": "Many sources are due at once and their hosts are slow.",
            "embed_batch_size": "The embedding model runs on a GPU: 32 or more (on a CPU, 1 is "
            "fastest).",
            "ingest_batch_docs": "Uploads are mostly large files (batching does not apply) or a "
            "document must fail or succeed strictly alone: 1.",
            "index_apply_batch": "The indexer's commits hold too many documents for the memory of "
            "the indexer (lower) or it falls behind a steady stream of small uploads (higher).",
            "segment_merge_factor": "Collections that change all the time: a higher factor merges "
            "less often (more segments to search); a lower one searches fewer segments.",
            "segment_max_deleted": "Collections with many deletions: lower it to reclaim memory "
            "sooner, at the cost of more rewrites.",
            "segment_mmap_vectors": "API processes run out of memory with big collections: lower "
            "it to share more segments through the page cache (mapped segments search a little "
            "slower).",
            "segment_search_threads": "The API shares its cores with other work: 0 searches a "
            "query's segments on its own thread.",
            "index_idle_seconds": "Many collections, little memory: lower it; few collections "
            "searched now and then: raise it to avoid reloading.",
            "hnsw_threshold": "Flat search of a large collection is too slow (lower) or HNSW's "
            "approximate results miss too much (higher).",
            "hnsw_m": "Rarely: a larger graph degree gives better recall for more memory.",
            "hnsw_ef_search": "HNSW misses passages that exact search finds (raise) or searches "
            "are too slow (lower).",
        },
    ),
    (
        "Access and abuse",
        "Who needs a key, what is logged about questions, and how much one caller may send.",
        {
            "auth": "A single-user laptop that nobody else can reach: false (every request is "
            "then the admin's).",
            "api_key": "Set where the CLI or UI run, to the key they send (usually as "
            "`ASKDOCS_API_KEY` in the shell).",
            "audit_questions": "Policy requires the text of questions in the audit log.",
            "max_json_bytes": "Clients send larger JSON bodies (long conversations through the "
            "OpenAI endpoint).",
            "rate_limit_per_key": "Scripts or many users behind one key need more requests per "
            "window; 0 turns the limit off.",
            "rate_limit_per_address": "Many people reach the API from one address (a NAT, a proxy) "
            "and see 429s before signing in.",
            "rate_limit_open_per_address": "A monitor or load balancer polls `/health` more often "
            "than this.",
            "rate_limit_window_seconds": "Rarely: a longer window smooths bursts.",
            "health_ttl_seconds": "Monitoring needs fresher health answers (lower) or `/health` is "
            "polled very often (higher).",
            "metrics_public": "Prometheus scrapes from a private network without an API key.",
            "metrics_port": "Workers and the indexer run apart from the API (docker compose, "
            "several hosts): the port their metrics are scraped on.",
        },
    ),
    (
        "What a document may be",
        "Limits on uploads and on what a file may unpack into; a file past one fails alone with "
        "the reason.",
        {
            "max_upload_bytes": "Users upload files larger than 100 MiB (scanned books, big "
            "spreadsheets).",
            "max_files_per_upload": "A client uploads more files per request (the CLI sends "
            "bounded batches by itself).",
            "max_request_bytes": "One upload request carries more than 1 GiB in all.",
            "max_unpacked_bytes": "Genuine office files or archives unpack past 512 MiB.",
            "max_archive_members": "Genuine archives hold more than 10,000 files.",
            "max_compression_ratio": "Genuine files compress better than 200:1 (rare: mostly "
            "empty spreadsheets).",
            "max_pages": "Documents longer than 5,000 pages are expected.",
        },
    ),
    (
        "Parsing",
        "Time, memory and isolation of the parse child, OCR, and PDF reading.",
        {
            "parse_soft_seconds": "Large or scanned documents fail with `timeout` on a slow host: "
            "raise it with `ASKDOCS_PARSE_HARD_SECONDS` and the task limits.",
            "parse_hard_seconds": "Together with `ASKDOCS_PARSE_SOFT_SECONDS`; keep it above it.",
            "parse_memory_mb": "Large documents fail with `too_large` and the host has memory to "
            "spare, or several workers share a small host (lower).",
            "ocr": "tesseract is not installed, or scans should not be read: false.",
            "ocr_page_seconds": "OCR on this host takes longer than a minute a page.",
            "parse_max_ocr_seconds": "Long scanned documents need more than an hour of OCR.",
            "parse_user": "The parse child should run as another dedicated user.",
            "parse_address_space_mb": "A parser fails with memory errors on large files although "
            "`ASKDOCS_PARSE_MEMORY_MB` allows more; keep it above that.",
            "parse_max_processes": "Many workers on one host run out of parse processes (the cap "
            "counts all parse children of the host's parse user).",
            "parse_max_file_mb": "Converting large legacy Office files (LibreOffice) needs to "
            "write more than 1 GiB.",
            "pdf_tables": "PDFs have no ruled tables and parsing time matters: false.",
            "pdf_reader": "A PDF's text comes out wrong with pdfium: `unstructured` reads it with "
            "pdfminer, about 20x slower.",
        },
    ),
    (
        "Jobs and recovery",
        "How long tasks may run, how crashes and lost messages are recovered, how long unused "
        "originals stay.",
        {
            "task_soft_time_limit": "Large documents need more than 10 minutes to parse and embed; "
            "keep it above the parse limits.",
            "task_time_limit": "Together with `ASKDOCS_TASK_SOFT_TIME_LIMIT`; keep it above it.",
            "lease_seconds": "Workers stall for long pauses (swapping, a slow disk) and lose "
            "documents they still work on: raise it.",
            "max_attempts": "Workers die for reasons unrelated to the document (out of memory on "
            "a busy host) and documents fail with `worker_lost`: raise it.",
            "task_max_retries": "Redis or the database restart for longer than the retries last.",
            "janitor_interval": "Rarely: stuck documents should be noticed sooner (lower).",
            "requeue_after": "Rarely: documents whose message was lost should be sent again "
            "sooner.",
            "blob_grace_seconds": "Backups take longer than an hour to copy the originals: raise "
            "it above the time a backup takes.",
            "rename_wait_seconds": "Clients prefer a quick 202 over waiting for a rename.",
        },
    ),
    (
        "Sources",
        "Which folders and hosts sources may read, and how runs are bounded.",
        {
            "sources_folder_roots": "Users should sync folders or repositories of the server: list "
            "the directories, and who may use each.",
            "sources_private_hosts": "Web or git sources on the internal network (an intranet "
            "wiki, a private git server).",
            "sources_allowed_hosts": "Egress must be limited to known hosts.",
            "sources_max_delete_share": "Syncs hold deletions that are expected (large "
            "reorganisations): raise it; 1.0 holds only empty or doubtful listings.",
            "sources_min_interval_seconds": "Users may schedule syncs more often than once a "
            "minute (raise it to protect the hosts synced).",
            "sources_run_seconds": "A large source needs more than an hour per run.",
            "sources_max_bytes": "Sources hold files larger than 100 MiB.",
            "sources_git_max_bytes": "Repositories larger than 2 GiB are synced.",
            "sources_timeout_seconds": "Source hosts are slow to answer.",
            "sources_tick_seconds": "Rarely: schedules should start closer to their time.",
            "sources_lease_seconds": "Rarely: sources workers stall longer than two minutes.",
        },
    ),
    (
        "Chunks and search",
        "How documents are cut and embedded and how passages are found; see [Search](search.md).",
        {
            "chunk_tokens": "Documents whose answers span long passages (raise) or a generator "
            "with a small context (lower); new documents only.",
            "chunk_overlap": "Rarely: answers cut at chunk ends.",
            "embedding_model": "Another language or domain: a sentence-transformers model "
            "directory; collections re-embed (see [Search](search.md)).",
            "relevance_threshold": "The gate refuses questions the documents answer (lower) or "
            "lets unrelated ones through (higher).",
            "onnx_queries": "Rarely: encode queries with torch instead.",
            "onnx_passages": "Rarely: embed passages with torch instead.",
            "top_k": "A bigger generator can read more passages (with `ASKDOCS_CONTEXT_TOKENS`).",
            "retrieval_mode": "Rarely: dense or lexical alone, to compare.",
            "dense_depth": "Rarely: a deeper candidate list for hybrid search.",
            "lexical_depth": "Rarely: a deeper candidate list for hybrid search.",
            "rerank_model": "You have a cross-encoder for your language or domain.",
            "rerank_depth": "With a reranker: more candidates rescored, slower.",
            "embedding_retry_seconds": "Rarely: an embedding model that fails to load should be "
            "retried sooner or later.",
            "embedding_retry_max_seconds": "Rarely: the longest wait between two such tries.",
        },
    ),
    (
        "Answers",
        "The generator and what it is given; see [Answers and models](answers.md).",
        {
            "generator_url": "The generator is a vLLM or other OpenAI-compatible server.",
            "generator_model": "The server serves several models.",
            "generator_api_key": "The generator server wants a key.",
            "generator_timeout": "A slow generator (a big model on a CPU) times out.",
            "generator_max_tokens": "Answers are cut short (raise) or ramble (lower).",
            "generator_extra_body": "The server takes sampling parameters of its own.",
            "context_tokens": "A bigger model can read more passages.",
            "generator_gguf": "Another GGUF model on the embedded server.",
            "generator_threads": "The embedded server should leave cores to other work.",
            "generator_ctx": "A GGUF model with a longer context.",
            "generator_profile": "A model other than the packaged ones is served: `plain` for a "
            "capable model (vLLM), or the packaged profile closest to it.",
        },
    ),
    (
        "Citations page",
        "The page images a citation shows; see [Citations](citations.md).",
        {
            "page_cache_mb": "Citations of many documents are opened: more cache; a small disk: "
            "less.",
            "page_max_width": "Rarely: sharper or lighter page images.",
            "page_max_pixels": "Very tall pages (a scroll, a long receipt) must show: more; a "
            "small API host: less.",
            "page_render_seconds": "Heavy drawings on a slow host are refused: more.",
        },
    ),
]


def grouped() -> dict[str, str]:
    """Every grouped setting and its group's title."""
    return {name: title for title, _, rows in GROUPS for name in rows}


def ungrouped() -> list[str]:
    """Settings of the model without a row in GROUPS."""
    known = grouped()
    return [n for n in Settings.model_fields if n not in known]


def stale() -> list[str]:
    """Rows of GROUPS that name no setting of the model."""
    return [n for n in grouped() if n not in Settings.model_fields]


def default_text(name: str) -> str:
    """The default as it would be written in the environment (a default_factory's value too)."""
    value: Any = Settings.model_fields[name].get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, dict | list):
        return f"`{json.dumps(value)}`"
    if value == "":
        return "empty"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: dict[str, str]) -> list[str]:
    out = ["| setting | default | what it does | change it when |", "| --- | --- | --- | --- |"]
    for name, when in rows.items():
        field = Settings.model_fields.get(name)
        if field is None:
            continue
        out.append(
            f"| `ASKDOCS_{name.upper()}` | {default_text(name)} | "
            f"{_cell(field.description or '')} | {_cell(when)} |"
        )
    return out


def page() -> str:
    """The whole of docs/settings.md."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by scripts/settings_table.py from core/settings.py: edit those, then run",
        "     .venv/bin/python scripts/settings_table.py --write -->",
        "",
        f"{len(Settings.model_fields)} settings, each an environment variable with the prefix "
        "`ASKDOCS_`, read once by each process at its entry point (`askdocs up` passes its own "
        "to every process it starts). Every default works on a laptop; the last column says when "
        "an operator would change it. Booleans take `true` or `false`, JSON settings a JSON "
        "object.",
        "",
    ]
    for title, intro, rows in GROUPS:
        if not any(n in Settings.model_fields for n in rows):
            continue
        lines += [f"## {title}", "", intro, "", *_table(rows), ""]
    missing = ungrouped()
    if missing:
        lines += [
            "## Not grouped yet",
            "",
            "Settings without a row in scripts/settings_table.py.",
            "",
        ]
        lines += _table({n: "" for n in missing}) + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    if "--write" not in sys.argv:
        print(page(), end="")
        raise SystemExit(0)
    TARGET.write_text(page())
    print(f"wrote {TARGET.relative_to(ROOT)}")
