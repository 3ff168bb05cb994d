"""Follow-up questions ("and in 2023?") rewritten as standalone ones before retrieval."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from generation.citations import STOP_WORDS, WORD
from generation.client import GeneratorClient

# Turns of the conversation the rewrite sees, and how much of each earlier answer.
HISTORY_TURNS = 3
ANSWER_CHARS = 400
_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_PREFIX = re.compile(
    r"^((standalone|rewritten|new|follow-up)\s*)?(question)?\s*:\s*", re.IGNORECASE
)
# Words that point back into the conversation: a rewrite that keeps one resolved nothing.
_REFERRING = frozenset(
    [
        "it",
        "its",
        "she",
        "her",
        "hers",
        "he",
        "him",
        "his",
        "they",
        "them",
        "their",
        "theirs",
        "there",
        "that",
        "this",
        "those",
        "these",
    ]
)
# Words a rewrite may bring in without them being in the conversation.
_FUNCTION_WORDS = STOP_WORDS | frozenset(
    [
        "been",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "many",
        "much",
        "s",
    ]
)


@dataclass(frozen=True)
class PastTurn:
    question: str
    answer: str


def condense_messages(history: Sequence[PastTurn], question: str) -> list[dict[str, str]]:
    """Measured on the packaged Qwen2.5 0.5B: asked to rewrite freely (or shown a worked example) it
    "corrected" Freedonia to France; asked to copy the question and only replace the words that
    refer back, it changed nothing it should not (and sometimes nothing at all: see ``clean``)."""
    lines = []
    for t in history[-HISTORY_TURNS:]:
        lines.append(f"Previous question: {t.question.strip()}")
        lines.append(f"Previous answer: {_MARKERS.sub('', t.answer.strip())[:ANSWER_CHARS]}")
    content = (
        "\n".join(lines) + f"\n\nFollow-up question: {question.strip()}\n\n"
        "Copy the follow-up question, replacing words like it, she, they, there, that by the names "
        "they refer to in the previous questions or answers. Do not change any other word. Keep "
        "names exactly as written, even unfamiliar ones. Reply with the question only."
    )
    return [{"role": "user", "content": content}]


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def _known(word: str, vocabulary: set[str]) -> bool:
    """In the vocabulary, or shares a 4-letter stem with a word of it ("lies" ~ "lie")."""
    if word in vocabulary:
        return True
    for v in vocabulary:
        short, long_ = sorted((v, word), key=len)
        if len(short) >= 3 and long_.startswith(short[:4]):
            return True
    return False


def clean(reply: str, question: str, history: Sequence[PastTurn]) -> str:
    """The rewritten question out of the model's reply, if it can be trusted: no words from nowhere
    (a small model "corrects" unfamiliar names) and no pronoun left unresolved. Otherwise the last
    question and the follow-up together, which retrieval handles well."""
    fallback = f"{history[-1].question.strip()} {question.strip()}"
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    text = _PREFIX.sub("", lines[0]).strip().strip('"').strip() if lines else ""
    if not text or len(text) > 3 * len(question) + 300:
        return fallback
    vocabulary = _words(question)
    for t in history[-HISTORY_TURNS:]:
        vocabulary |= _words(t.question) | _words(t.answer)
    words = _words(text)
    if any(not _known(w, vocabulary) for w in words - _FUNCTION_WORDS) or words & _REFERRING:
        return fallback
    return text


def condense(
    question: str, history: Sequence[PastTurn], client: GeneratorClient, max_tokens: int = 80
) -> str:
    """The question as retrieval should see it; unchanged when there is no history."""
    if not history:
        return question
    reply = "".join(client.stream_chat(condense_messages(history, question), max_tokens=max_tokens))
    return clean(reply, question, history)
