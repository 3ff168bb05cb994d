"""Routes that read a collection's index: search and ask. Both need read access to the collection;
the index searched is that collection's own, so no other collection's passage can reach a prompt."""

from __future__ import annotations

import dataclasses
import json
import time

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.answering import Question, passages_out
from api.deps import Caller, Services, ServicesDep
from api.errors import ApiError, errors
from api.schemas import AskIn, SearchFilters, SearchIn, SearchOut
from retrieval.filters import DocumentFilter, matching_documents


def filtered_ids(
    services: Services, collection: str, filters: SearchFilters | None, within: list[str] | None
) -> list[str] | None:
    """The document ids a search may return under ``filters`` (None: no restriction)."""
    if filters is None:
        return within
    f = DocumentFilter(
        types=tuple(filters.types or ()),
        tags=tuple(filters.tags or ()),
        uploaded_after=filters.uploaded_after,
        uploaded_before=filters.uploaded_before,
    )
    return matching_documents(services.catalog, collection, f, within)


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


router = APIRouter()


@router.post("/search", response_model=SearchOut, responses=errors(401, 404, 409))
def search(services: ServicesDep, body: SearchIn, who: Caller) -> SearchOut:
    retriever = services.retriever
    services.answers.allow(who, body.collection, "search", body.query)
    t0 = time.perf_counter()
    config = None
    changes = body.tuning.model_dump(exclude_none=True) if body.tuning is not None else {}
    if body.rerank is not None:
        if body.rerank and retriever.reranker is None:
            raise ApiError(  # a valid request this server is not set up for
                409,
                "no_reranker",
                "this server has no cross-encoder: set ASKDOCS_RERANK_MODEL to a "
                "sentence-transformers CrossEncoder directory",
            )
        changes["rerank"] = body.rerank
    if changes:
        config = dataclasses.replace(retriever.config, **changes)
    document_ids = filtered_ids(services, body.collection, body.filters, body.document_ids)
    found = (
        []
        if document_ids == []
        else retriever.search(body.collection, body.query, body.k, body.mode, document_ids, config)
    )
    took = (time.perf_counter() - t0) * 1000
    return SearchOut(passages=passages_out(found), took_ms=round(took, 2))


@router.post(
    "/ask",
    responses={200: {"content": {"text/event-stream": {}}}, **errors(401, 404, 503)},
)
def ask(services: ServicesDep, body: AskIn, who: Caller) -> StreamingResponse:
    """Server-sent events: `sources` (with the conversation id and the question retrieval
    searched), then `token`s, then `done` (answer, citations with the supporting span, and each
    claim checked against what it cites), or `error`.

    Pass the `conversation_id` of an earlier answer to ask a follow-up: it is rewritten as a
    standalone question with the conversation before retrieval."""
    services.answers.allow(who, body.collection, "ask", body.question)
    document_ids = filtered_ids(services, body.collection, body.filters, None)
    question = Question(body.collection, body.question, body.conversation_id, body.k, document_ids)
    conv, prepared = services.answers.start(who, question)
    events = (_sse(e, data) for e, data in services.answers.events(conv, prepared))
    return StreamingResponse(events, media_type="text/event-stream")
