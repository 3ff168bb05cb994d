"""askdocs as an OpenAI-compatible server: `GET /v1/models` lists the collections the caller may read,
`POST /v1/chat/completions` answers the last user message from the collection named in `model` (or
`collection`), the messages before it being the conversation. Any OpenAI client works: its API key is
an askdocs key. Citations and the claim checks travel in extra fields (`citations`, `askdocs`); in a
stream, the last chunk carries them."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from api.answering import Prepared, answer_payload, passages_out
from api.deps import Caller, ServicesDep
from api.errors import ApiError, errors, stream_error
from api.schemas import (
    COLLECTION_PATTERN,
    ChatChoice,
    ChatChoiceMessage,
    ChatCompletionIn,
    ChatCompletionOut,
    ChatMessage,
    ModelList,
    ModelOut,
)
from core.auth import visible_collections
from generation.condense import PastTurn
from generation.rag import Answer, Token

NO_QUESTION = "Ask a question about the documents in a user message."


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[PastTurn]]:
    """The question (the last user message with text; "" when there is none) and the user/assistant
    exchanges before it as turns; system, developer and tool messages are left out."""
    talk = [m for m in messages if m.role in ("user", "assistant")]
    last = max((i for i, m in enumerate(talk) if m.role == "user" and m.text().strip()), default=-1)
    if last < 0:
        return "", []
    history: list[PastTurn] = []
    pending: str | None = None
    for m in talk[:last]:
        if m.role == "user":
            pending = m.text()
        elif pending is not None:
            history.append(PastTurn(pending, m.text()))
            pending = None
    return talk[last].text().strip()[:4000], history


def _no_question(collection: str) -> tuple[Prepared, Iterator[Token | Answer]]:
    """Nothing to answer: say so, as an answer, without retrieval or the generator (an OpenAI
    server answers such a request too)."""
    prepared = Prepared(collection, "", "", [], -1.0, True)
    return prepared, iter([Token(NO_QUESTION), Answer(NO_QUESTION, [], [], abstained=True)])


def _extra(prepared: Prepared, ev: Answer) -> tuple[list[dict[str, object]], dict[str, object]]:
    payload = answer_payload(ev, prepared)
    citations = payload.pop("citations")
    payload["passages"] = [p.model_dump() for p in passages_out(prepared.passages)]
    return citations, payload  # type: ignore[return-value]


def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None, **extra) -> str:  # type: ignore[no-untyped-def]
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models", response_model=ModelList, responses=errors(401))
def models(services: ServicesDep, who: Caller) -> ModelList:
    """The collections you may read, as models."""
    catalog = services.catalog
    with catalog.reader() as s:
        return ModelList(
            data=[
                ModelOut(
                    id=c.id,
                    created=int(c.created_at.timestamp()),
                    owned_by=c.owner_id or "askdocs",
                )
                for c in visible_collections(s, who)
            ]
        )


@router.post(
    "/chat/completions",
    responses={
        200: {"model": ChatCompletionOut, "content": {"text/event-stream": {}}},
        **errors(401, 404, 503),
    },
)
def chat_completions(services: ServicesDep, body: ChatCompletionIn, who: Caller):  # type: ignore[no-untyped-def]
    answers = services.answers
    collection = body.collection or body.model
    if not re.fullmatch(COLLECTION_PATTERN, collection):
        raise ApiError(404, "not_found", f"no collection {collection!r}")
    question, history = split_messages(body.messages)
    answers.allow(who, collection, "chat", question)
    if question:
        prepared = answers.prepare(collection, question, history, body.k)
        stream = answers.generate(prepared)
    else:
        prepared, stream = _no_question(collection)
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        final = None
        for ev in stream:
            if isinstance(ev, Answer):
                final = ev
        assert final is not None
        citations, extra = _extra(prepared, final)
        out = ChatCompletionOut(
            id=cid,
            created=created,
            model=collection,
            choices=[
                ChatChoice(
                    index=0,
                    message=ChatChoiceMessage(content=final.text),
                    finish_reason="stop",
                )
            ],
            citations=citations,
            askdocs=extra,
        )
        return JSONResponse(out.model_dump())

    def events() -> Iterator[str]:
        yield _chunk(cid, created, collection, {"role": "assistant", "content": ""}, None)
        try:
            for ev in stream:
                if isinstance(ev, Answer):
                    citations, extra = _extra(prepared, ev)
                    yield _chunk(
                        cid, created, collection, {}, "stop", citations=citations, askdocs=extra
                    )
                else:
                    yield _chunk(cid, created, collection, {"content": ev.text}, None)
        except Exception as e:  # noqa: BLE001 - the stream has started: an error chunk ends it
            yield f"data: {json.dumps({'error': stream_error(e)})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
