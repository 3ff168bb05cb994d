"""A caller's own conversations: list, read, delete. Another user's conversation answers 404."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from api.deps import Caller, ServicesDep
from api.errors import ApiError, errors
from api.schemas import COLLECTION_PATTERN, ConversationDetail, ConversationOut, TurnOut
from core import conversations
from core.catalog import Conversation


def _out(c: Conversation, turns: int) -> ConversationOut:
    return ConversationOut(
        id=c.id,
        collection=c.collection_id,
        title=c.title,
        turns=turns,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


router = APIRouter(prefix="/conversations", tags=["conversations"])


@router.get("", response_model=list[ConversationOut], responses=errors(401))
def list_conversations(
    services: ServicesDep,
    who: Caller,
    collection: str | None = Query(None, pattern=COLLECTION_PATTERN),
) -> list[ConversationOut]:
    """Your conversations, most recent first."""
    catalog = services.catalog
    with catalog.reader() as s:
        return [_out(c, n) for c, n in conversations.listing(s, who.user, collection)]


@router.get("/{conversation_id}", response_model=ConversationDetail, responses=errors(401, 404))
def get_conversation(
    services: ServicesDep, conversation_id: str, who: Caller
) -> ConversationDetail:
    catalog = services.catalog
    with catalog.reader() as s:
        conv = conversations.find(s, who.user, conversation_id)
        if conv is None:
            raise ApiError(404, "not_found", f"no conversation {conversation_id}")
        history = [
            TurnOut(
                question=t.question,
                standalone_question=t.standalone,
                answer=t.answer,
                abstained=t.abstained,
                citations=t.citations,
                created_at=t.created_at,
            )
            for t in conversations.turns(s, conv.id)
        ]
        return ConversationDetail(**_out(conv, len(history)).model_dump(), history=history)


@router.delete("/{conversation_id}", status_code=204, responses=errors(401, 404))
def delete_conversation(services: ServicesDep, conversation_id: str, who: Caller) -> Response:
    catalog = services.catalog
    with catalog.session() as s:
        if conversations.find(s, who.user, conversation_id) is None:
            raise ApiError(404, "not_found", f"no conversation {conversation_id}")
        conversations.remove(s, conversation_id)
    return Response(status_code=204)
