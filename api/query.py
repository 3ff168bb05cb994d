"""Routes that read a collection's index: search and ask. Both need read access to the collection;
the index searched is that collection's own, so no other collection's passage can reach a prompt."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import Caller, Services, require
from api.errors import errors
from api.schemas import AskIn, PassageOut, SearchIn, SearchOut
from askdocs.auth import Principal, Role, audit, question_detail
from generation.client import GeneratorUnavailable
from generation.rag import Answer, answer
from retrieval.types import ScoredChunk


def passages_out(passages: list[ScoredChunk]) -> list[PassageOut]:
    return [
        PassageOut(
            n=i,
            chunk_id=p.chunk_id,
            document_id=p.document_id,
            document_name=p.document_name,
            page=p.page,
            heading=p.heading,
            score=p.score,
            text=p.text,
        )
        for i, p in enumerate(passages, start=1)
    ]


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def query_router(services: Services) -> APIRouter:
    settings, catalog, retriever = services.settings, services.catalog, services.retriever
    generator = services.generator
    router = APIRouter()

    def _allow(who: Principal, collection: str, action: str, text: str) -> None:
        with catalog.session() as s:
            require(s, who, collection, Role.read)
            audit(
                s,
                who.user,
                action,
                collection,
                detail=question_detail(text, settings.audit_questions),
            )

    @router.post("/search", response_model=SearchOut, responses=errors(401, 404))
    def search(body: SearchIn, who: Caller) -> SearchOut:
        _allow(who, body.collection, "search", body.query)
        t0 = time.perf_counter()
        config = None
        if body.tuning is not None:
            changes = body.tuning.model_dump(exclude_none=True)
            config = dataclasses.replace(retriever.config, **changes)
        found = retriever.search(
            body.collection, body.query, body.k, body.mode, body.document_ids, config
        )
        took = (time.perf_counter() - t0) * 1000
        return SearchOut(passages=passages_out(found), took_ms=round(took, 2))

    @router.post(
        "/ask",
        responses={200: {"content": {"text/event-stream": {}}}, **errors(401, 404, 503)},
    )
    def ask(body: AskIn, who: Caller) -> StreamingResponse:
        """Server-sent events: `sources`, then `token`s, then `done` (answer and citations)."""
        _allow(who, body.collection, "ask", body.question)
        passages = retriever.search(body.collection, body.question, body.k or settings.top_k)
        relevance = retriever.best_similarity(body.question, passages)
        # Below the gate the generator never sees the passages: it says so, and lists them.
        gated = relevance < settings.relevance_threshold
        if not gated:
            _ = generator.model  # fail with 503 now, not inside the stream

        def events() -> Iterator[str]:
            yield _sse("sources", [p.model_dump() for p in passages_out(passages)])
            try:
                for ev in answer(
                    body.question,
                    [] if gated else passages,
                    generator,
                    settings.context_tokens,
                    settings.generator_max_tokens,
                ):
                    if isinstance(ev, Answer):
                        yield _sse(
                            "done",
                            {
                                "answer": ev.text,
                                "abstained": ev.abstained,
                                "citations": [asdict(c) for c in ev.citations],
                                "invalid_markers": ev.invalid_markers,
                                "inferred_markers": ev.inferred_markers,
                                "instructions_removed": ev.instructions_removed,
                                "relevance": round(relevance, 4),
                                "below_relevance_threshold": gated,
                            },
                        )
                    else:
                        yield _sse("token", {"text": ev.text})
            except GeneratorUnavailable as e:
                yield _sse("error", {"type": "generator_unavailable", "message": str(e)})

        return StreamingResponse(events(), media_type="text/event-stream")

    return router
