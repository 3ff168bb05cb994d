"""The question-answering flow behind `/ask` and `/v1/chat/completions`: check access, condense a
follow-up with its conversation, retrieve from the one collection, gate on relevance, generate, and
check the citations. Both routes read the same events and store the turn the same way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from api.deps import Services, require
from api.errors import ApiError
from askdocs import conversations
from askdocs.auth import Principal, Role, audit, question_detail
from askdocs.catalog import utcnow
from generation.condense import PastTurn, condense
from generation.rag import Answer, Token, answer
from retrieval.types import ScoredChunk


@dataclass(frozen=True)
class Thread:
    """The conversation a question belongs to; a new one is stored with its first answer."""

    id: str
    user: str
    history: list[PastTurn]


@dataclass(frozen=True)
class Prepared:
    """Everything known before the first token: what retrieval searched and found."""

    collection: str
    question: str
    standalone: str
    passages: list[ScoredChunk]
    relevance: float
    gated: bool  # below the relevance gate: the generator never sees the passages


def allow(services: Services, who: Principal, collection: str, action: str, text: str) -> None:
    """Read access to ``collection`` (404 or 403 otherwise), and the audit line for the question."""
    settings = services.settings
    with services.catalog.session() as s:
        require(s, who, collection, Role.read)
        audit(
            s, who.user, action, collection, detail=question_detail(text, settings.audit_questions)
        )


def thread(
    services: Services, who: Principal, collection: str, conversation_id: str | None
) -> Thread:
    """The conversation to continue (the caller's own, over this collection) or a new one."""
    if conversation_id is None:
        return Thread(conversations.new_id(), who.user, [])
    with services.catalog.reader() as s:
        conv = conversations.find(s, who.user, conversation_id)
        if conv is None or conv.collection_id != collection:
            raise ApiError(
                404, "not_found", f"no conversation {conversation_id} over {collection!r}"
            )
        return Thread(conv.id, who.user, conversations.recent(s, conv.id))


def prepare(
    services: Services,
    collection: str,
    question: str,
    history: Sequence[PastTurn],
    k: int | None = None,
    document_ids: list[str] | None = None,
) -> Prepared:
    """Condense, retrieve (within ``document_ids`` when given), gate. Raises GeneratorUnavailable
    (503) before any stream starts."""
    settings, retriever, generator = services.settings, services.retriever, services.generator
    standalone = condense(question, history, generator) if history else question
    passages = (
        []
        if document_ids == []
        else retriever.search(collection, standalone, k or settings.top_k, None, document_ids)
    )
    relevance = retriever.best_similarity(standalone, passages)
    gated = relevance < settings.relevance_threshold
    if not gated:
        _ = generator.model  # fail with 503 now, not inside the stream
    return Prepared(collection, question, standalone, passages, relevance, gated)


# Tokens of a prompt that are not passages: the rules, the question twice, the chat template.
PROMPT_OVERHEAD = 256


def passage_budget(services: Services) -> int:
    """The passages' token budget: the setting, or less where the served model's context (prompt
    and answer together; vLLM says it) is smaller."""
    settings = services.settings
    budget = settings.context_tokens
    length = services.generator.context_length()
    if length is not None:
        budget = min(budget, length - settings.generator_max_tokens - PROMPT_OVERHEAD)
    return max(budget, 0)


def generate(services: Services, prepared: Prepared) -> Iterator[Token | Answer]:
    if prepared.gated:
        return answer(prepared.standalone, [], services.generator)
    return answer(
        prepared.standalone,
        prepared.passages,
        services.generator,
        passage_budget(services),
        services.settings.generator_max_tokens,
    )


def answer_payload(ev: Answer, prepared: Prepared) -> dict[str, object]:
    """What clients get about a finished answer (the `done` event; the OpenAI route's extra field)."""
    return {
        "answer": ev.text,
        "abstained": ev.abstained,
        "citations": [asdict(c) for c in ev.citations],
        "claims": [asdict(c) for c in ev.claims],
        "unsupported_claims": len(ev.unsupported),
        "invalid_markers": ev.invalid_markers,
        "inferred_markers": ev.inferred_markers,
        "instructions_removed": ev.instructions_removed,
        "relevance": round(prepared.relevance, 4),
        "below_relevance_threshold": prepared.gated,
        "standalone_question": prepared.standalone,
    }


def save_turn(services: Services, conv: Thread, prepared: Prepared, ev: Answer) -> None:
    with services.catalog.session() as s:
        if conversations.find(s, conv.user, conv.id) is None:
            conversations.start(s, conv.id, conv.user, prepared.collection, prepared.question)
        conversations.add_turn(
            s,
            conv.id,
            conversations.TurnRecord(
                question=prepared.question,
                standalone=prepared.standalone,
                answer=ev.text,
                citations=[asdict(c) for c in ev.citations],
                abstained=ev.abstained,
                created_at=utcnow(),
            ),
        )
