"""Conversations kept by id: each belongs to one user and one collection."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.catalog import Conversation, Turn, utcnow

TITLE_CHARS = 80


@dataclass(frozen=True)
class TurnRecord:
    question: str
    standalone: str
    answer: str
    citations: list[dict[str, object]]
    abstained: bool
    created_at: datetime


def new_id() -> str:
    return str(uuid.uuid4())


def start(
    s: Session, conversation_id: str, user: str, collection: str, first_question: str
) -> Conversation:
    conv = Conversation(
        id=conversation_id,
        user_id=user,
        collection_id=collection,
        title=" ".join(first_question.split())[:TITLE_CHARS],
    )
    s.add(conv)
    s.flush()
    return conv


def find(s: Session, user: str, conversation_id: str) -> Conversation | None:
    """The caller's own conversation; another user's is the same as a missing one."""
    conv = s.get(Conversation, conversation_id)
    return conv if conv is not None and conv.user_id == user else None


def recent(s: Session, conversation_id: str, n: int) -> list[tuple[str, str]]:
    """The last ``n`` (question, answer) pairs of a conversation, oldest first."""
    rows = s.execute(
        select(Turn.question, Turn.answer)
        .where(Turn.conversation_id == conversation_id)
        .order_by(Turn.id.desc())
        .limit(n)
    ).all()
    return [(q, a) for q, a in reversed(rows)]


def add_turn(s: Session, conversation_id: str, record: TurnRecord) -> None:
    s.add(
        Turn(
            conversation_id=conversation_id,
            question=record.question,
            standalone=record.standalone,
            answer=record.answer,
            citations=json.dumps(record.citations),
            abstained=record.abstained,
            created_at=record.created_at,
        )
    )
    conv = s.get(Conversation, conversation_id)
    if conv is not None:
        conv.updated_at = utcnow()


def turns(s: Session, conversation_id: str) -> list[TurnRecord]:
    rows = s.scalars(
        select(Turn).where(Turn.conversation_id == conversation_id).order_by(Turn.id)
    ).all()
    return [
        TurnRecord(
            t.question, t.standalone, t.answer, json.loads(t.citations), t.abstained, t.created_at
        )
        for t in rows
    ]


def listing(s: Session, user: str, collection: str | None) -> list[tuple[Conversation, int]]:
    q = (
        select(Conversation, func.count(Turn.id))
        .outerjoin(Turn, Turn.conversation_id == Conversation.id)
        .where(Conversation.user_id == user)
        .group_by(Conversation.id)
        .order_by(Conversation.updated_at.desc())
    )
    if collection is not None:
        q = q.where(Conversation.collection_id == collection)
    return [(c, n) for c, n in s.execute(q).all()]


def remove(s: Session, conversation_id: str) -> None:
    s.execute(delete(Turn).where(Turn.conversation_id == conversation_id))
    s.execute(delete(Conversation).where(Conversation.id == conversation_id))
