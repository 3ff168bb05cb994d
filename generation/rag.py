"""Answer a question from passages: build the prompt, stream the generator, resolve citations."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from generation import figures, formula, grammar
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
from generation.client import GeneratorClient, GeneratorUnavailable
from generation.columns import Wanted, narrow
from generation.focus import focus
from generation.profiles import DEFAULT, GenerationProfile
from generation.prompt import (
    NOT_IN_DOCUMENTS,
    approx_tokens,
    build_messages,
    fenced_sentences,
    format_passage,
    says_not_answered,
    second_look_messages,
    select_passages,
    without_example,
)
from generation.second_look import accept as second_look_answer
from retrieval.types import ScoredChunk

log = logging.getLogger(__name__)

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
    # passages (their [n]) with a sentence that instructs the assistant, in the text, the name or
    # the heading: fenced as quoted data in the prompt, nothing removed (``generation.injection``)
    instructions_removed: list[int] = field(default_factory=list)
    # each sentence of the answer, checked against the passages it cites
    claims: list[Claim] = field(default_factory=list)
    # when the model would not answer from the passages it was given: their sentences that bear
    # on the question most (shown after the refusal, never turned into an answer)
    closest: list[Evidence] = field(default_factory=list)
    # the model refused at first, then, asked to look again, quoted a passage that answers: the
    # quote cites it, every claim is held by the cited passage and the question's subject words
    # are in it (``generation.citations.uncovered``; a question of ``second_look.LONG_QUESTION``
    # subject words or more may miss one)
    second_look: bool = False
    # the answer was computed by askdocs from operands the model named, each found in the
    # passage it cites (``generation.figures``)
    computed: bool = False

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]


def answer(
    question: str,
    passages: Sequence[ScoredChunk],
    client: GeneratorClient,
    context_tokens: int = 1536,
    max_tokens: int = 384,
    profile: GenerationProfile = DEFAULT,
    columns: Wanted | None = None,
) -> Iterator[Token | Answer]:
    """Yield ``Token`` pieces as they stream, then one final ``Answer``, prompting and reading
    the model as its ``profile`` says (``generation.profiles``): passages focused or whole, the
    rules and their layout, refusals by the rules' sentence or by pattern, the second look after
    a refusal (what it quotes replaces the refusal only when ``generation.second_look.accept``
    keeps it), and figures computed by code for a question that asks for a ratio, a margin, a
    share, a sum, a change or the best row (``generation.figures``). With ``columns`` (the
    periods the question asks about), the prompt shows each table with those periods' columns
    only (``generation.columns``); citations are checked against the passages as stored."""
    if profile.focus_passages:
        passages = [replace(p, text=focus(p.text, question)) for p in passages]
    count = client.token_counter(approx_tokens)
    if columns and profile.period_columns:
        narrowed = [replace(p, text=narrow(p.text, columns)) for p in passages]
    else:
        narrowed = list(passages)
    shown = select_passages(narrowed, context_tokens, count)
    kept = {id(p) for p in shown}
    used = [p for p, n in zip(passages, narrowed, strict=True) if id(n) in kept]
    if not used:
        yield Token(NOT_IN_DOCUMENTS)
        yield Answer(NOT_IN_DOCUMENTS, [], [], abstained=True)
        return
    # the prompt fences such sentences; the passages kept here (citations, evidence, what the user
    # sees) stay as stored
    quarantined = [n for n, p in enumerate(used, start=1) if fenced_sentences(p)]
    computation = figures.classify(question) if profile.computed_figures else None
    if computation is not None:
        done = yield from _computed(
            question, computation, used, shown, client, profile, quarantined
        )
        if done:
            return
    messages = build_messages(question, shown, profile.layout)
    prompt_tokens = count(messages[-1]["content"])  # before the stream: never beside it
    asked = time.monotonic()

    def first_token() -> None:
        client.observe_prompt(prompt_tokens, time.monotonic() - asked)

    refused = partial(_refused, paraphrases=profile.refusal_patterns)
    # With a second look, an opening like a refusal's is held back until it is clear whether it
    # is one (which the second look may replace); any other answer streams at once.
    # A question that asks for a calculation the operand step gave none for: the answer is held
    # back whole, since a model answering it the ordinary way computes in its own words ("(21,213
    # / 81,797) * 100% = 25"), and a calculation askdocs can check replaces it (the grammar lets
    # it write "100" to make a percentage).
    copy = None
    if profile.copy_figures:
        copy = _copy_grammar(question, shown, percent=computation is not None)
    text, streamed = yield from _stream(
        client.stream_chat(messages, max_tokens=max_tokens, grammar=copy),
        hold=profile.second_look,
        first=first_token,
        refused=refused,
        hold_all=computation is not None,
    )
    text = text.strip()
    if profile.example_filter:
        text = without_example(text)
    abstained = refused(text)
    if computation is not None and not abstained:
        result = _calculated(question, computation, text, used)
        if result is not None:
            yield Token(result.text)
            yield from _finish(question, result.text, False, used, quarantined, computed=result)
            return
    looked_again = False
    if abstained and profile.second_look:
        try:
            kept = _look_again(client, second_look_messages(messages, text), question, used, copy)
        except GeneratorUnavailable:  # the refusal stands: a second look is never needed
            log.warning("second look failed", exc_info=True)
            kept = None
        if kept is not None:
            text, abstained, looked_again = kept, False, True
    if not streamed:
        yield Token(text or NOT_IN_DOCUMENTS)
    if not text:
        text = NOT_IN_DOCUMENTS
    yield from _finish(question, text, abstained, used, quarantined, looked_again)


def _finish(
    question: str,
    text: str,
    abstained: bool,
    used: Sequence[ScoredChunk],
    quarantined: list[int],
    looked_again: bool = False,
    computed: figures.Result | None = None,
) -> Iterator[Token | Answer]:
    """Resolve and check the citations of a finished text; after a refusal, the closest
    evidence; then the ``Answer``."""
    inferred: list[int] = []
    if not abstained and computed is None:
        text, inferred = attach_missing(text, used)
    citations, invalid = resolve(text, used)
    text = strip_invalid(text, invalid)
    claims: list[Claim] = []
    if computed is not None and not abstained:
        # every operand was found in the passage it cites: each citation is held by the row
        # that states its figure
        citations = [_held(c, computed) for c in citations]
        claims = [Claim(text, 0, len(text), [c.number for c in citations], True)]
    elif not abstained:
        citations, claims = check_claims(text, citations)
    closest: list[Evidence] = []
    if abstained:  # the passages passed the relevance gate: say what in them comes closest
        closest = closest_evidence(question, used)
        if closest:
            extra = f"\n\n{CLOSEST_INTRO}\n{evidence_text(closest)}"
            yield Token(extra)
            text += extra
    yield Answer(
        text,
        citations,
        list(used),
        abstained,
        invalid,
        inferred,
        quarantined,
        claims,
        closest,
        looked_again,
        computed is not None and computed.grounded,
    )


def _held(c: Citation, computed: figures.Result) -> Citation:
    """The citation of a computed answer, with the span of the row holding its operand."""
    span = None
    for o in computed.operands:
        if o.source == c.number:
            span = figures.figure_span(o, c.passage)
            break
    return replace(c, span=span, support=1.0, supported=span is not None)


# Tokens the operand step may write: a line per operand (a row comparison lists every row).
OPERAND_TOKENS = 200
# Figures a copied answer may always write besides the passages' own: single digits ("3
# segments"), which cannot glue a longer figure together (``grammar.copy_grammar``).
_DIGITS = " ".join(str(d) for d in range(10))


def _shown_figures(question: str, used: Sequence[ScoredChunk], percent: bool = False) -> list[str]:
    """The figures the prompt shows: each passage as formatted (its name, pages and heading
    too), the question's own, and single digits; with ``percent``, 100 (a calculation's "× 100"
    that makes a percentage)."""
    shown = [format_passage(n, p) for n, p in enumerate(used, start=1)]
    return grammar.passage_figures(shown, also=(question, _DIGITS, "100" if percent else ""))


def _copy_grammar(question: str, used: Sequence[ScoredChunk], percent: bool = False) -> str:
    """The grammar of an answer whose figures are copied from the prompt."""
    return grammar.copy_grammar(_shown_figures(question, used, percent), len(used))


def _calculated(
    question: str, computation: figures.Computation, text: str, used: Sequence[ScoredChunk]
) -> figures.Result | None:
    """The result of the calculation ``text`` writes, computed by askdocs from figures it finds
    in the passages (``generation.formula``); None when it writes none askdocs can check."""
    calculation = formula.read(text)
    if calculation is None:
        return None
    return figures.from_calculation(question, computation, calculation, [p.text for p in used])


def _computed(
    question: str,
    computation: figures.Computation,
    used: Sequence[ScoredChunk],
    shown: Sequence[ScoredChunk],
    client: GeneratorClient,
    profile: GenerationProfile,
    quarantined: list[int],
) -> Generator[Token | Answer, None, bool]:
    """The operand step: the model writes the calculation (or, for a row comparison, names the
    rows' figures), askdocs checks every figure against the passages and computes. Returns False
    when the reply gives no calculation or figures askdocs can use, or refuses (the question is
    then answered the ordinary way); a named operand that is not in its passage is refused,
    never guessed."""
    # asked after the very prompt an ordinary answer sends: when the reply names no usable
    # operands, the ordinary answer's prompt is a prefix the server has already read (llama.cpp's
    # and vLLM's prompt caches keep it), so the question costs one prompt reading, not two
    messages = build_messages(question, shown, profile.layout)
    messages[-1]["content"] += "\n\n" + figures.operand_rules(computation, question)
    # no grammar: nothing of this reply is shown, only figures found again in the passages
    reply = "".join(client.stream_chat(messages, max_tokens=OPERAND_TOKENS)).strip()
    result = _calculated(question, computation, reply, used)
    if result is None:
        texts = [p.text for p in used]
        result = figures.compute(question, computation, figures.parse_operands(reply), texts)
    if result is None:
        # no usable calculation or operands, or a refusal: the ordinary answer may still quote
        # the figures asked about, and it refuses on its own terms
        return False
    yield Token(result.text)
    yield from _finish(question, result.text, result.refused, used, quarantined, computed=result)
    return True


# A second look reads at most this many tokens of the copy: the start of one passage (a refusal
# that stands costs this much generation before it shows; 320 made the p90 time to first token
# 28 s on sec-10q, bench numbers in the README).
SECOND_LOOK_TOKENS = 160


def _look_again(
    client: GeneratorClient,
    messages: list[dict[str, str]],
    question: str,
    used: Sequence[ScoredChunk],
    copy: str | None = None,
) -> str | None:
    """The second look's answer, or None. The copy is checked at each sentence's end and the
    stream closed at the first that makes an answer, so the server stops copying; with ``copy``
    (a grammar) its figures are the passages' own."""
    got: list[str] = []
    checked = 0
    pieces = client.stream_chat(messages, max_tokens=SECOND_LOOK_TOKENS, grammar=copy)
    try:
        for piece in pieces:
            got.append(piece)
            so_far = "".join(got)
            ends = [m.end() for m in _OPENING_END.finditer(so_far)]
            if ends and ends[-1] > checked:
                checked = ends[-1]
                kept = second_look_answer(question, without_example(so_far[:checked]), used)
                if kept is not None:
                    return kept
    finally:
        pieces.close()
    return second_look_answer(question, without_example("".join(got).strip()), used)


def _refused(text: str, paraphrases: bool = True) -> bool:
    """A refusal, unless it also answers part of the question with a citation."""
    return not text or (says_not_answered(text, paraphrases) and not cited_numbers(text))


_OPENING_CHARS = 80
_OPENING_END = re.compile(r"[.!?](?:\s|$)")
# How the model's refusals begin (a refusal's opening is held back; anything else streams at once).
_REFUSAL_OPENINGS = tuple(
    o.lower()
    for o in (
        "The document",
        "The source",
        "The passage",
        "The context",
        "The provided",
        "The given",
        "The information",
        "The question",
        "These ",
        "None of",
        "There is no",
        "There are no",
        "No information",
        "Not found",
        "Based on",
        "According to",
        "Sorry",
        "Unfortunately",
        "I ",
        "I'm",
    )
)


def _may_refuse(so_far: str) -> bool:
    """Whether an answer that begins with ``so_far`` may yet be a refusal: its opening is one of a
    refusal's, or the start of one."""
    head = so_far.lstrip().lower()
    return any(head.startswith(o) or o.startswith(head) for o in _REFUSAL_OPENINGS)


def _stream(
    pieces: Iterator[str],
    hold: bool,
    first: Callable[[], None],
    refused: Callable[[str], bool] = _refused,
    hold_all: bool = False,
) -> Generator[Token, None, tuple[str, bool]]:
    """Yield the pieces as tokens; with ``hold``, an opening that may be a refusal's is held back
    until its first sentence ends (or 80 characters) and the text so far is not a refusal; with
    ``hold_all``, nothing is yielded. Returns the whole text and whether it was yielded."""
    if hold_all:
        got = []
        for piece in pieces:
            if not got:
                first()
            got.append(piece)
        return "".join(got), False
    got = []
    pending = hold
    for piece in pieces:
        if not got:
            first()
        got.append(piece)
        if not pending:
            yield Token(piece)
            continue
        so_far = "".join(got)
        decided = len(so_far) >= _OPENING_CHARS or _OPENING_END.search(so_far)
        if not _may_refuse(so_far) or (decided and not refused(so_far.strip())):
            pending = False
            yield Token(so_far)
    text = "".join(got)
    if pending and not refused(text.strip()):
        pending = False
        yield Token(text)
    return text, not pending
