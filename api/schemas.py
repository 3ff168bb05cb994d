"""HTTP shapes (pydantic lives at the edge only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from sources.config import FolderConfig, GitConfig, WebConfig
from sources.schedule import PATTERN as SCHEDULE_PATTERN

COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# printable ASCII without spaces: a token goes into an HTTP header as it is
TOKEN_PATTERN = r"^[!-~]*$"


class ErrorBody(BaseModel):
    type: str
    message: str
    detail: object | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class CollectionIn(BaseModel):
    name: str = Field(pattern=COLLECTION_PATTERN, description="Letters, digits, _ . -")


class ReembedOut(BaseModel):
    model: str = Field(description="The model the collection is being re-embedded with.")
    chunks_done: int
    chunks_total: int


class CollectionOut(BaseModel):
    name: str
    documents: int
    ready: int
    by_status: dict[str, int] = Field(
        default_factory=dict, description="Documents per state (deleted ones left out)."
    )
    embedding_model: str | None
    index_generation: int
    owner: str | None = None
    role: Literal["read", "write", "owner"] = Field(description="The caller's role in it.")
    renaming_to: str | None = Field(None, description="Set while a rename is in progress.")
    embedding_dim: int | None = None
    reembedding: ReembedOut | None = Field(
        None,
        description="Set while the collection is re-embedded with the deployment's new model "
        "(the index of `embedding_model` serves searches meanwhile).",
    )


class RetryIn(BaseModel):
    statuses: list[Literal["failed", "cancelled"]] = Field(
        default_factory=lambda: ["failed", "cancelled"], min_length=1
    )
    codes: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=50,
        description="Only documents failed with one of these codes (e.g. unavailable, timeout); "
        "empty: any.",
    )


class RetriedOut(BaseModel):
    retried: int = Field(description="Documents queued again.")


class CollectionDeletedOut(BaseModel):
    name: str
    deleted_at: datetime = Field(description="Hidden from then on; the indexer drops the rest.")


class MemberIn(BaseModel):
    role: Literal["read", "write"]


class MemberOut(BaseModel):
    user: str
    role: Literal["read", "write", "owner"]


class MeOut(BaseModel):
    user: str
    admin: bool
    auth: bool = Field(description="False: the server runs without keys (single-user mode).")
    key_id: str | None


class ChunkOut(BaseModel):
    ordinal: int
    page: int | None
    page_end: int | None = Field(None, description="Last page the chunk covers.")
    heading: str | None
    element_type: str | None
    text: str


class AuditOut(BaseModel):
    id: int
    at: datetime
    user: str | None
    action: str
    collection: str | None
    document_id: str | None
    detail: dict[str, object] | None


class DocumentOut(BaseModel):
    id: str
    collection: str
    name: str
    sha256: str = Field(description="SHA-256 of the original bytes.")
    content_type: str | None
    tags: list[str] = Field(default_factory=list)
    size_bytes: int
    status: str
    error_code: str | None
    error: str | None
    pages: int | None
    pages_done: int | None = Field(None, description="Pages read so far (OCR reads page by page).")
    chunks: int | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    duplicate: bool = False
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="What the format says (an e-mail's from, to, subject)."
    )
    parent_id: str | None = Field(None, description="The e-mail this attachment came from.")
    source_id: str | None = Field(None, description="The source it was synced from.")
    origin: str | None = Field(None, description="Where it lives at its source (path or URL).")
    issuer: str | None = Field(
        None, description="Who it is about, read off its cover (search matches it to questions)."
    )
    period: str | None = Field(
        None, description='The reporting period it covers, e.g. "2023 Q3, ended 2023-07-01".'
    )


class JobIn(BaseModel):
    collection: str = Field("default", pattern=COLLECTION_PATTERN)


class JobOut(BaseModel):
    id: str
    collection: str
    created_at: datetime
    created_by: str | None = None
    cancelled_at: datetime | None = None
    total: int
    finished: int = Field(description="Documents that are ready, failed, cancelled or deleted.")
    counts: dict[str, int] = Field(description="Documents per state.")
    done: bool
    pages: int = Field(description="Pages read so far.")
    elapsed_s: float
    documents_per_s: float | None = Field(description="Pace so far; None before the first.")
    eta_s: float | None = Field(description="Seconds left at the pace so far.")
    documents: list[DocumentOut] = Field(
        description="The job's documents; in an upload's answer, those of that request only "
        "(the numbers above are the whole job's)."
    )


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class LookupIn(BaseModel):
    sha256: list[Sha256] = Field(max_length=1000, description="SHA-256 of files, lowercase hex.")


class KnownOut(BaseModel):
    id: str
    name: str
    status: str


class LookupOut(BaseModel):
    known: dict[str, KnownOut] = Field(description="By SHA-256: the document with those bytes.")


class Tuning(BaseModel):
    """Per-request overrides of the server's retrieval settings (for evaluation and tuning)."""

    fusion: Literal["rrf", "minmax", "minmax_doc", "passages"] | None = None
    rrf_k: float | None = Field(None, gt=0, le=1e6)
    dense_weight: float | None = Field(None, ge=0, le=1)
    chunk_weight: float | None = Field(None, ge=0, le=10)
    chunk_dense_weight: float | None = Field(None, ge=0, le=1)
    document_share: float | None = Field(None, ge=0, le=1)
    prior_weight: float | None = Field(None, ge=0, le=10)
    per_document: int | None = Field(None, ge=0, le=200)
    spread_margin: float | None = Field(None, ge=0, le=10)
    dense_depth: int | None = Field(None, ge=1, le=2000)
    lexical_depth: int | None = Field(None, ge=1, le=2000)
    title_boost: float | None = Field(None, ge=0, le=100)
    common_df: float | None = Field(None, gt=0, le=1)
    rerank_depth: int | None = Field(None, ge=1, le=500)


class SearchFilters(BaseModel):
    """Which documents to search, applied before ranking (never a cut after a top-k)."""

    types: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,10}$")]] | None = Field(
        None, max_length=20, description='File extensions, e.g. ["pdf", "docx"].'
    )
    tags: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=20, description="Documents that carry all of these tags."
    )
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None


class SearchIn(BaseModel):
    collection: str = Field("default", pattern=COLLECTION_PATTERN)
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(5, ge=1, le=200)
    mode: Literal["hybrid", "dense", "lexical"] | None = Field(
        None, description="Default: the server's ASKDOCS_RETRIEVAL_MODE."
    )
    document_ids: list[str] | None = Field(
        None, max_length=1000, description="Search only these documents."
    )
    filters: SearchFilters | None = None
    rerank: bool | None = Field(
        None,
        description="Rescore the best passages with the server's cross-encoder; default: on "
        "when ASKDOCS_RERANK_MODEL is set (400 when asked for and not set).",
    )
    tuning: Tuning | None = None


class PassageOut(BaseModel):
    n: int
    chunk_id: int
    document_id: str
    document_name: str
    page: int | None
    page_end: int | None = Field(None, description="Last page the passage covers.")
    heading: str | None
    score: float
    text: str
    origin: str | None = Field(
        None, description="Where a synced document lives at its source (a path or a URL)."
    )


class SearchOut(BaseModel):
    passages: list[PassageOut]
    took_ms: float


class AskIn(BaseModel):
    collection: str = Field("default", pattern=COLLECTION_PATTERN)
    question: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(None, ge=1, le=20)
    conversation_id: str | None = Field(
        None, max_length=36, description="Continue this conversation (a follow-up question)."
    )
    filters: SearchFilters | None = None


class TurnOut(BaseModel):
    question: str
    standalone_question: str
    answer: str
    abstained: bool
    citations: list[dict[str, object]]
    created_at: datetime


class ConversationOut(BaseModel):
    id: str
    collection: str
    title: str
    turns: int
    created_at: datetime
    updated_at: datetime


class ConversationDetail(ConversationOut):
    history: list[TurnOut]


class HealthOut(BaseModel):
    status: str
    auth: bool = Field(description="Whether routes other than /health need an API key.")
    components: dict[str, dict[str, object]]
    checked_at: datetime | None = Field(
        None, description="When the check these components come from finished (UTC)."
    )
    age_s: float | None = Field(
        None, description="Seconds since that check (the answer is kept; see health_ttl_seconds)."
    )


class ContentPart(BaseModel):
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatCompletionIn(BaseModel):
    """The OpenAI chat request; `model` names the collection to answer from (or pass
    `collection`). System messages are ignored: askdocs's rules are fixed."""

    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    collection: str | None = Field(None, pattern=COLLECTION_PATTERN)
    k: int | None = Field(None, ge=1, le=20)
    # accepted for compatibility; the answer length and sampling are the server's settings
    max_tokens: int | None = None
    temperature: float | None = None


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatChoiceMessage
    finish_reason: Literal["stop"]


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    citations: list[dict[str, object]] = Field(
        description="Per [n] marker: document id and name, page, passage, span, support."
    )
    askdocs: dict[str, object] = Field(
        description="The rest of the answer's checks: claims, abstained, relevance, passages."
    )


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class CollectionStatus(BaseModel):
    name: str
    documents: dict[str, int] = Field(description="Documents per state.")
    chunks: int
    vectors: int = Field(description="Live vectors in the FAISS index searches read now.")
    index_kind: str = Field(description="flat, hnsw, or flat+hnsw: the kinds of its segments.")
    segments: int = Field(0, description="Vector segments searches read now.")
    lexical_chunks: int
    index_generation: int


class StatusOut(BaseModel):
    status: str
    components: dict[str, dict[str, object]]
    queues: dict[str, int] = Field(description="Tasks waiting per Celery queue.")
    workers: list[str] = Field(description="Celery workers that answered a ping (1 s).")
    collections: list[CollectionStatus]


class _SourceIn(BaseModel):
    collection: str = Field("default", pattern=COLLECTION_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    schedule: str | None = Field(
        None,
        max_length=128,
        pattern=SCHEDULE_PATTERN,
        description="'every 30m', '6h', '3600' (seconds) or five cron fields ('0 3 * * *': minute, "
        "hour, day of month 1-28, month, day of week; numbers, lists, * and */N); none: by hand.",
    )
    token: str | None = Field(
        None,
        max_length=4096,
        pattern=TOKEN_PATTERN,
        description="A token for a private website or git host (https only): stored encrypted "
        "with the origin of the source's URL, sent only there, never shown.",
    )
    enabled: bool = True
    sync_now: bool = Field(True, description="Start the first sync at once.")


class FolderSourceIn(_SourceIn):
    kind: Literal["folder"]
    config: FolderConfig


class WebSourceIn(_SourceIn):
    kind: Literal["web"]
    config: WebConfig


class GitSourceIn(_SourceIn):
    kind: Literal["git"]
    config: GitConfig


SourceIn = Annotated[FolderSourceIn | WebSourceIn | GitSourceIn, Field(discriminator="kind")]


class SourcePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=128)
    config: dict[str, Any] | None = Field(
        None, description="The whole config of the source's kind (as POST /sources takes it)."
    )
    schedule: str | None = Field(
        None, max_length=128, pattern=SCHEDULE_PATTERN, description="'' turns the schedule off."
    )
    token: str | None = Field(
        None,
        max_length=4096,
        pattern=TOKEN_PATTERN,
        description="'' forgets the token. A change of the URL or hosts forgets it unless it is "
        "sent again; only the source's owner or an admin may change a source that holds one.",
    )
    enabled: bool | None = None


class SourceRunOut(BaseModel):
    id: str
    source_id: str
    trigger: str
    status: str
    job_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    listed: int
    new: int
    changed: int
    unchanged: int
    renamed: int
    deleted: int
    failed: int
    skipped: int
    held: int = Field(
        0, description="Deletions held back (status 'held') until a run confirms them."
    )
    confirm_deletions: bool = Field(
        False, description="Asked to carry out what its listing says is gone, however much."
    )
    failures: list[dict[str, str]] = Field(default_factory=list)
    message: str | None


class SourceOut(BaseModel):
    id: str
    collection: str
    name: str
    kind: str
    config: dict[str, Any]
    schedule: str | None
    enabled: bool
    has_token: bool
    token_origin: str | None = Field(
        None, description="The only origin (https://host[:port]) the token is sent to."
    )
    owner: str | None
    created_at: datetime
    next_run_at: datetime | None
    running: bool
    documents: int
    last_run: SourceRunOut | None


class ChunkBoxesOut(BaseModel):
    chunk_id: int
    document_id: str
    page: int | None = Field(None, description="First page of the chunk.")
    page_end: int | None = Field(None, description="Last page of the chunk.")
    boxes: dict[str, list[list[int]]] | None = Field(
        None,
        description="Page number -> the merged boxes [x0, top, x1, bottom] of the lines the chunk "
        "was made of, in PDF points from the page's top left; null where no positions were "
        "stored (documents ingested before positions were kept, and formats without pages).",
    )
    sentence: dict[str, list[list[int]]] | None = Field(
        None,
        description="With start and end: the boxes of the words of text[start:end] (a citation's "
        "supporting sentence), found among the chunk's words on its pages; null where not found.",
    )
    message: str | None = Field(None, description="Why there are no boxes, where there are none.")
