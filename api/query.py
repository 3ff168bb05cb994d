"""Routes that read a collection's index: search and ask. Both need read access to the collection;
the index searched is that collection's own, so no other collection's passage can reach a prompt."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.answering import allow, answer_payload, generate, prepare, save_turn, thread
from api.deps import Caller, Services
from api.errors import ApiError, errors
from api.schemas import AskIn, PassageOut, SearchFilters, SearchIn, SearchOut
from generation.client import GeneratorUnavailable
from generation.rag import Answer
from retrieval.filters import DocumentFilter, matching_documents
from retrieval.types import ScoredChunk


def passages_out(passages: list[ScoredChunk]) -> list[PassageOut]:
    return [
        PassageOut(
            n=i,
            chunk_id=p.chunk_id,
            document_id=p.document_id,
            document_name=p.document_name,
            page=p.page,
            page_end=p.page_end,
            heading=p.heading,
            score=p.score,
            text=p.text,
        )
        for i, p in enumerate(passages, start=1)
    ]


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


def query_router(services: Services) -> APIRouter:
    retriever = services.retriever
    router = APIRouter()

    @router.post("/search", response_model=SearchOut, responses=errors(401, 404, 409))
    def search(body: SearchIn, who: Caller) -> SearchOut:
        allow(services, who, body.collection, "search", body.query)
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
            else retriever.search(
                body.collection, body.query, body.k, body.mode, document_ids, config
            )
        )
        took = (time.perf_counter() - t0) * 1000
        return SearchOut(passages=passages_out(found), took_ms=round(took, 2))

    @router.post(
        "/ask",
        responses={200: {"content": {"text/event-stream": {}}}, **errors(401, 404, 503)},
    )
    def ask(body: AskIn, who: Caller) -> StreamingResponse:
        """Server-sent events: `sources` (with the conversation id and the question retrieval
        searched), then `token`s, then `done` (answer, citations with the supporting span, and each
        claim checked against what it cites), or `error`.

        Pass the `conversation_id` of an earlier answer to ask a follow-up: it is rewritten as a
        standalone question with the conversation before retrieval."""
        allow(services, who, body.collection, "ask", body.question)
        conv = thread(services, who, body.collection, body.conversation_id)
        document_ids = filtered_ids(services, body.collection, body.filters, None)
        prepared = prepare(
            services, body.collection, body.question, conv.history, body.k, document_ids
        )

        def events() -> Iterator[str]:
            yield _sse(
                "sources",
                {
                    "conversation_id": conv.id,
                    "standalone_question": prepared.standalone,
                    "passages": [p.model_dump() for p in passages_out(prepared.passages)],
                },
            )
            try:
                for ev in generate(services, prepared):
                    if isinstance(ev, Answer):
                        save_turn(services, conv, prepared, ev)
                        yield _sse(
                            "done", {"conversation_id": conv.id, **answer_payload(ev, prepared)}
                        )
                    else:
                        yield _sse("token", {"text": ev.text})
            except GeneratorUnavailable as e:
                yield _sse("error", {"type": "generator_unavailable", "message": str(e)})

        return StreamingResponse(events(), media_type="text/event-stream")

    return router
