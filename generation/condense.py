"""Follow-up questions ("and in 2023?") rewritten as standalone ones before retrieval."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from generation.client import GeneratorClient

# Turns of the conversation the rewrite sees, and how much of each earlier answer.
HISTORY_TURNS = 3
ANSWER_CHARS = 400
_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_PREFIX = re.compile(r"^(standalone|rewritten|new)?\s*question\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class PastTurn:
    question: str
    answer: str


def condense_messages(history: Sequence[PastTurn], question: str) -> list[dict[str, str]]:
    lines = []
    for t in history[-HISTORY_TURNS:]:
        lines.append(f"User: {t.question.strip()}")
        lines.append(f"Assistant: {_MARKERS.sub('', t.answer.strip())[:ANSWER_CHARS]}")
    content = (
        "Conversation:\n" + "\n".join(lines) + f"\n\nFollow-up question: {question.strip()}\n\n"
        "Rewrite the follow-up question so that it can be understood without the conversation: "
        "replace words like it, they, that and there by what they refer to, and keep names, "
        "dates and numbers. Reply with the rewritten question only."
    )
    return [{"role": "user", "content": content}]


def clean(reply: str, question: str, history: Sequence[PastTurn]) -> str:
    """The rewritten question out of the model's reply; when the reply is unusable (empty, a whole
    paragraph), the last question and the follow-up together, which retrieval handles well."""
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    text = _PREFIX.sub("", lines[0]).strip().strip('"').strip() if lines else ""
    if not text or len(text) > 3 * len(question) + 300:
        return f"{history[-1].question.strip()} {question.strip()}"
    return text


def condense(
    question: str, history: Sequence[PastTurn], client: GeneratorClient, max_tokens: int = 80
) -> str:
    """The question as retrieval should see it; unchanged when there is no history."""
    if not history:
        return question
    reply = "".join(client.stream_chat(condense_messages(history, question), max_tokens=max_tokens))
    return clean(reply, question, history)
