"""Answer a question from passages: build the prompt, stream the generator, resolve citations."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from generation.citations import (
    Citation,
    Claim,
    Evidence,
    attach_missing,
    check_claims,
    cited_numbers,
    closest_evidence,
    evidence_text,
    resolve,
    strip_invalid,
)
from generation.client import GeneratorClient
from generation.focus import focus
from generation.injection import neutralize
from generation.prompt import (
    NOT_IN_DOCUMENTS,
    approx_tokens,
    build_messages,
    says_not_answered,
    select_passages,
    without_example,
)
from retrieval.types import ScoredChunk

CLOSEST_INTRO = (
    "The passages found look relevant, but the model did not find the answer in them. "
    "Closest evidence (check it yourself):"
)


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    passages: list[ScoredChunk]
    abstained: bool
    invalid_markers: list[int] = field(default_factory=list)
    inferred_markers: list[int] = field(
        default_factory=list
    )  # added by word overlap, not the model
    # passages that had sentences instructing the assistant, left out of the prompt
    instructions_removed: list[int] = field(default_factory=list)
    # each sentence of the answer, checked against the passages it cites
    claims: list[Claim] = field(default_factory=list)
    # when the model would not answer from the passages it was given: their sentences that bear
    # on the question most (shown after the refusal, never turned into an answer)
    closest: list[Evidence] = field(default_factory=list)

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]


def answer(
    question: str,
    passages: Sequence[ScoredChunk],
    client: GeneratorClient,
    context_tokens: int = 1536,
    max_tokens: int = 384,
    focused: bool = False,
    layout: str = "standard",
) -> Iterator[Token | Answer]:
    """Yield ``Token`` pieces as they stream, then one final ``Answer``. ``focused``: each passage
    cut to the sentences and table rows that bear on the question (``generation.focus``) before
    they are fitted to the budget. ``layout``: one of ``generation.prompt.LAYOUTS``."""
    if focused:
        passages = [replace(p, text=focus(p.text, question)) for p in passages]
    count = client.token_counter(approx_tokens)
    used = select_passages(passages, context_tokens, count)
    if not used:
        yield Token(NOT_IN_DOCUMENTS)
        yield Answer(NOT_IN_DOCUMENTS, [], [], abstained=True)
        return
    shown: list[ScoredChunk] = []
    quarantined: list[int] = []
    for n, p in enumerate(used, start=1):
        text, removed = neutralize(p.text)
        shown.append(replace(p, text=text) if removed else p)
        if removed:
            quarantined.append(n)
    pieces: list[str] = []
    messages = build_messages(question, shown, layout)
    prompt_tokens = count(messages[-1]["content"])  # before the stream: never beside it
    asked = time.monotonic()
    for piece in client.stream_chat(messages, max_tokens=max_tokens):
        if not pieces:
            client.observe_prompt(prompt_tokens, time.monotonic() - asked)
        pieces.append(piece)
        yield Token(piece)
    text = without_example("".join(pieces).strip())
    # a refusal, unless it also answers part of the question with a citation
    abstained = not text or (says_not_answered(text) and not cited_numbers(text))
    if not text:
        text = NOT_IN_DOCUMENTS
    inferred: list[int] = []
    if not abstained:
        text, inferred = attach_missing(text, used)
    citations, invalid = resolve(text, used)
    text = strip_invalid(text, invalid)
    claims: list[Claim] = []
    if not abstained:
        citations, claims = check_claims(text, citations)
    closest: list[Evidence] = []
    if abstained:  # the passages passed the relevance gate: say what in them comes closest
        closest = closest_evidence(question, shown)
        if closest:
            extra = f"\n\n{CLOSEST_INTRO}\n{evidence_text(closest)}"
            yield Token(extra)
            text += extra
    yield Answer(
        text, citations, list(used), abstained, invalid, inferred, quarantined, claims, closest
    )
