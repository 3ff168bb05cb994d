"""The question-answering flow behind `/ask`, `/v1/chat/completions` and `askdocs eval answers
--in-process`: check access, condense a follow-up with its conversation, retrieve from the one
collection, gate on relevance, refuse a question that names something no passage found mentions
(``generation.coverage``), generate, check the citations and store the turn.

``AnswerService`` gets what it uses (the catalog, the retriever, the generator client and the
settings) and knows nothing of HTTP: refusals are domain errors (core.errors), mapped to the error
envelope in one place (api/errors.py). ``ask`` yields the events every client reads, in order:
``sources``, ``token``..., then ``done`` or ``error``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from api.errors import stream_error
from api.schemas import PassageOut
from core import conversations, metrics
from core.auth import Principal, Role, audit, question_detail, role_in
from core.catalog import Catalog, utcnow
from core.errors import NotFound
from core.settings import Settings
from generation.client import GeneratorClient, GeneratorUnavailable
from generation.columns import wanted
from generation.condense import HISTORY_TURNS, PastTurn, condense
from generation.coverage import VOCABULARY_MIN_PASSAGES, missing_terms
from generation.profiles import profile_for
from generation.prompt import NOT_IN_DOCUMENTS
from generation.rag import Answer, Token, answer
from retrieval.doc_fields import asked, period_ends
from retrieval.query_encoders import EncoderUnavailable
from retrieval.search import Retriever
from retrieval.types import ScoredChunk

# Tokens of a prompt that are not passages: the rules, the question twice, the chat template.
PROMPT_OVERHEAD = 256
# The answer while the model of a collection's vectors cannot encode the question in this process.
UNJUDGED = (
    "The relevance of the passages to this question cannot be judged while the embedding model "
    "of this collection is unavailable on the server; it is loaded again automatically. Please "
    "ask again in a few minutes."
)


@dataclass(frozen=True)
class Question:
    """A question to one collection: a follow-up names its conversation; ``k`` passages (the
    setting when None), searched within ``document_ids`` when given."""

    collection: str
    text: str
    conversation_id: str | None = None
    k: int | None = None
    document_ids: list[str] | None = None


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
    received: float = field(default_factory=time.monotonic)  # when the question arrived
    # why the relevance could not be judged (the gate refused for that reason), else None
    unjudged: str | None = None
    # what the question names (a year, a figure, a proper name) that no passage found mentions,
    # and its words the collection never uses: the question is refused without the generator
    # (``generation.coverage``)
    missing: tuple[str, ...] = ()
    # the days the periods the question names by label ended, as the passages' documents say
    # (a filing's table is then shown with that period's columns: ``generation.columns``)
    period_ends: tuple[date, ...] = ()


def passage_text(p: ScoredChunk, issuer: str | None = None) -> str:
    """What a passage says, as the coverage check reads it: its document's issuer (a filing's
    chunk seldom repeats the company's name) and name, its heading and its text."""
    return "\n".join(part for part in (issuer, p.document_name, p.heading, p.text) if part)


def not_covered(missing: Sequence[str]) -> str:
    """The refusal of a question that names ``missing`` things no passage found mentions."""
    quoted = [f'"{t}"' for t in missing]
    named = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"{NOT_IN_DOCUMENTS.rstrip('.')}: no passage found mentions {named}."


def timed(events: Iterator[Token | Answer], received: float) -> Iterator[Token | Answer]:
    """``events`` as they come, observing the time to the first token, the tokens/s after it
    (a streamed piece is about one token) and the generator's errors."""
    first: float | None = None
    pieces = 0
    try:
        for ev in events:
            if isinstance(ev, Token) and ev.text:
                pieces += 1
                if first is None:
                    first = time.monotonic()
                    metrics.ASK_FIRST_TOKEN_SECONDS.observe(first - received)
            yield ev
    except GeneratorUnavailable:
        metrics.GENERATOR_ERRORS.labels("unavailable").inc()
        raise
    except Exception:
        metrics.GENERATOR_ERRORS.labels("error").inc()
        raise
    if first is not None and pieces > 1:
        took = time.monotonic() - first
        if took > 0:
            metrics.ASK_TOKENS_PER_SECOND.observe((pieces - 1) / took)


def passages_out(passages: Sequence[ScoredChunk]) -> list[PassageOut]:
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
            origin=p.origin,
        )
        for i, p in enumerate(passages, start=1)
    ]


def answer_payload(ev: Answer, prepared: Prepared) -> dict[str, Any]:
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
        # the passages the model was given ([n] of the `sources` event): a person can check an
        # answer against them even when it carries no valid citation
        "passages_given": len(ev.passages),
        "closest_evidence": [asdict(e) for e in ev.closest],
        # the model refused, then quoted what answers when asked to look again (checked)
        "second_look": ev.second_look,
        # the answer's figure was computed by askdocs from operands found in the cited passages
        "computed": ev.computed,
        "relevance": round(prepared.relevance, 4),
        "below_relevance_threshold": prepared.gated,
        # the gate refused because it could not judge (the embedding model is unavailable)
        "relevance_unjudged": prepared.unjudged is not None,
        # what the question names that no passage found mentions, and its words the collection
        # never uses (the answer is then a refusal the generator was never asked for)
        "missing_terms": list(prepared.missing),
        "standalone_question": prepared.standalone,
    }


class AnswerService:
    def __init__(
        self,
        catalog: Catalog,
        retriever: Retriever,
        generator: GeneratorClient,
        settings: Settings,
    ) -> None:
        self.catalog = catalog
        self.retriever = retriever
        self.generator = generator
        self.settings = settings
        # how the configured generator is prompted and read (generation.profiles)
        self.profile = profile_for(settings)

    def allow(self, who: Principal, collection: str, action: str, text: str) -> None:
        """Read access to ``collection`` (NotFound or Forbidden otherwise), and the audit line for
        the question."""
        with self.catalog.session() as s:
            role = role_in(s, who, collection)
            if role is None or role < Role.read:
                raise NotFound(f"no collection {collection!r}")
            detail = question_detail(text, self.settings.audit_questions)
            audit(s, who.user, action, collection, detail=detail)

    def thread(self, who: Principal, collection: str, conversation_id: str | None) -> Thread:
        """The conversation to continue (the caller's own, over this collection) or a new one."""
        if conversation_id is None:
            return Thread(conversations.new_id(), who.user, [])
        with self.catalog.reader() as s:
            conv = conversations.find(s, who.user, conversation_id)
            if conv is None or conv.collection_id != collection:
                raise NotFound(f"no conversation {conversation_id} over {collection!r}")
            pairs = conversations.recent(s, conv.id, HISTORY_TURNS)
        return Thread(conv.id, who.user, [PastTurn(q, a) for q, a in pairs])

    def prepare(
        self,
        collection: str,
        question: str,
        history: Sequence[PastTurn],
        k: int | None = None,
        document_ids: list[str] | None = None,
    ) -> Prepared:
        """Condense, retrieve (within ``document_ids`` when given), gate on relevance, then check
        that the passages mention what the question names. Raises GeneratorUnavailable before
        any stream starts when the generator will be asked."""
        received = time.monotonic()
        standalone = condense(question, history, self.generator) if history else question
        passages = (
            []
            if document_ids == []
            else self.retriever.search(
                collection, standalone, k or self.settings.top_k, None, document_ids
            )
        )
        threshold = self.retriever.relevance_threshold(
            collection, self.settings.relevance_threshold
        )
        try:
            relevance, unjudged = self.retriever.best_similarity(standalone, passages), None
        except EncoderUnavailable:
            # nothing says whether the passages bear on the question: refuse rather than let the
            # generator answer from whatever BM25 found (unless the gate is off: threshold -1)
            relevance, unjudged = -1.0, UNJUDGED
        gated = relevance < threshold if unjudged is None else threshold > -1
        missing: list[str] = []
        ends: set[date] = set()
        if not gated:
            # the whole collection's words (once it is large enough to tell): a subject it never
            # mentions is no passage's either
            lexical = self.retriever.indexes(collection).lexical
            vocabulary = lexical.has_word if lexical.searched >= VOCABULARY_MIN_PASSAGES else None
            fields = self.retriever.document_fields({p.document_id for p in passages})
            texts = [
                passage_text(p, fields[p.document_id].issuer if p.document_id in fields else None)
                for p in passages
            ]
            missing = missing_terms(standalone, texts, vocabulary)
            ends = period_ends(asked(standalone), fields.values())
        if not gated and not missing:
            _ = self.generator.model  # fail now, not inside the stream
        return Prepared(
            collection,
            question,
            standalone,
            passages,
            relevance,
            gated,
            received,
            unjudged,
            tuple(missing),
            tuple(sorted(ends)),
        )

    def passage_budget(self) -> int:
        """The passages' token budget: the setting, or less where the served model's context
        (prompt and answer together; vLLM says it) is smaller, or where the server reads prompts
        too slowly to answer within the profile's ``ttft_target_seconds`` (as measured on its
        answers so far; never below the profile's ``min_context_tokens``)."""
        budget = self.settings.context_tokens
        length = self.generator.context_length()
        if length is not None:
            budget = min(budget, length - self.settings.generator_max_tokens - PROMPT_OVERHEAD)
        rate = self.generator.prompt_rate
        target = self.profile.ttft_target_seconds
        if target > 0 and rate is not None:
            fits = int(rate * target) - PROMPT_OVERHEAD
            budget = min(budget, max(fits, self.profile.min_context_tokens))
        return max(budget, 0)

    def generate(self, prepared: Prepared) -> Iterator[Token | Answer]:
        if prepared.gated and prepared.unjudged:
            return iter([Token(prepared.unjudged), Answer(prepared.unjudged, [], [], True)])
        if prepared.missing and not prepared.gated:
            refusal = not_covered(prepared.missing)
            return iter([Token(refusal), Answer(refusal, [], [], True)])
        if prepared.gated:
            return timed(
                answer(prepared.standalone, [], self.generator, profile=self.profile),
                prepared.received,
            )
        return timed(
            answer(
                prepared.standalone,
                prepared.passages,
                self.generator,
                self.passage_budget(),
                self.settings.generator_max_tokens,
                profile=self.profile,
                columns=wanted(prepared.standalone, prepared.period_ends),
            ),
            prepared.received,
        )

    def save_turn(self, conv: Thread, prepared: Prepared, ev: Answer) -> None:
        with self.catalog.session() as s:
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

    def start(self, who: Principal, q: Question) -> tuple[Thread, Prepared]:
        """What can still refuse a question once access was allowed, before any answer event:
        the conversation, retrieval, the generator being up."""
        conv = self.thread(who, q.collection, q.conversation_id)
        prepared = self.prepare(q.collection, q.text, conv.history, q.k, q.document_ids)
        return conv, prepared

    def events(self, conv: Thread, prepared: Prepared) -> Iterator[tuple[str, dict[str, Any]]]:
        """The answer as `/ask` streams it: ``sources``, ``token``..., ``done`` (the turn is stored
        first) or ``error`` (the envelope's type and message)."""
        yield (
            "sources",
            {
                "conversation_id": conv.id,
                "standalone_question": prepared.standalone,
                "passages": [p.model_dump() for p in passages_out(prepared.passages)],
            },
        )
        try:
            for ev in self.generate(prepared):
                if isinstance(ev, Answer):
                    self.save_turn(conv, prepared, ev)
                    yield "done", {"conversation_id": conv.id, **answer_payload(ev, prepared)}
                else:
                    yield "token", {"text": ev.text}
        except Exception as e:  # noqa: BLE001 - the stream has started: an error event ends it
            yield "error", stream_error(e)

    def ask(self, who: Principal, q: Question) -> Iterator[tuple[str, dict[str, Any]]]:
        """``allow``, ``start`` then ``events``: one question, in this process."""
        self.allow(who, q.collection, "ask", q.text)
        return self.events(*self.start(who, q))
