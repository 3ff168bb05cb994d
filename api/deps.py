"""What every route needs: the process's services, the caller, and their role in a collection."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from celery import Celery
from fastapi import Depends, Request, Security, params
from fastapi.routing import APIRoute, APIRouter
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.routing import Match

from api.answering import AnswerService
from api.edge import BAD_KEY_MESSAGE, NO_KEY_MESSAGE, PRINCIPAL, send_error
from api.errors import ApiError
from core.auth import LOCAL, Principal, Role, authenticate, role_in
from core.blobs import BlobStore
from core.catalog import Catalog, DocStatus, Document
from core.settings import Settings
from generation.client import GeneratorClient
from retrieval.embedding import Embedder
from retrieval.search import Retriever

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An askdocs API key (`askdocs key create USER`): `Authorization: Bearer askd_...`",
)


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    celery: Celery
    embedder: Embedder
    retriever: Retriever
    generator: GeneratorClient
    answers: AnswerService


def get_services(request: Request) -> Services:
    """The process's services, made once at start (``create_app``)."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_principal(
    request: Request,
    cred: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
) -> Principal:
    """The caller, from the Authorization header (or 401); everyone is the local admin with auth off.

    ``api.edge.Edge`` has found the caller already for every route that needs one (before the
    body was read); the lookup here is for an app without it.
    """
    services: Services = request.app.state.services
    if not services.settings.auth:
        return LOCAL
    found = request.scope.get("state", {}).get(PRINCIPAL)
    if isinstance(found, Principal):
        return found
    challenge = {"WWW-Authenticate": "Bearer"}
    if cred is None:
        raise ApiError(401, "unauthorized", NO_KEY_MESSAGE, headers=challenge)
    who = authenticate(services.catalog, cred.credentials)
    if who is None:
        raise ApiError(401, "unauthorized", BAD_KEY_MESSAGE, headers=challenge)
    return who


Caller = Annotated[Principal, Depends(current_principal)]


def owner_of_new(who: Principal) -> str | None:
    """Who owns a collection this caller creates (nobody when auth is off: there are no users)."""
    return None if who == LOCAL else who.user


def require(s: Session, who: Principal, collection: str, need: Role) -> Role:
    """The caller's role in ``collection`` if it is at least ``need``; else 404 (cannot see) or 403."""
    role = role_in(s, who, collection)
    if role is None:
        raise ApiError(404, "not_found", f"no collection {collection!r}")
    if role < need:
        raise ApiError(
            403,
            "forbidden",
            f"you may read {collection!r} but not {'change' if need == Role.write else 'manage'} it",
        )
    return role


def document_for(s: Session, who: Principal, document_id: str, need: Role) -> Document:
    """A live document the caller may ``need``; 404 for one they may not see, as for a missing one."""
    doc = s.get(Document, document_id, with_for_update=need >= Role.write)
    if doc is None or doc.status == DocStatus.deleted or role_in(s, who, doc.collection_id) is None:
        raise ApiError(404, "not_found", f"no document {document_id}")
    require(s, who, doc.collection_id, need)
    return doc


def require_admin(who: Principal) -> None:
    if not who.admin:
        raise ApiError(403, "forbidden", "only an admin may do this")


def clean_name(name: str) -> str:
    """A display name: a relative path at most (``reports/q1.pdf``, as `askdocs ingest FOLDER`
    sends), without empty, ``.`` or ``..`` parts, control or format characters; bounded length.

    Names are shown and matched (a new file of the same name replaces the old), never used as
    paths: originals are stored by their hash.
    """
    text = unicodedata.normalize("NFC", name).replace("\\", "/")
    parts = []
    for part in text.split("/"):
        part = "".join(ch for ch in part if ch.isprintable()).strip()
        part = part.lstrip(".").strip()
        if part:
            parts.append(part)
    return ("/".join(parts) or "upload")[-255:]


def form_routes(routers: Iterable[APIRouter]) -> list[APIRoute]:
    """The routes of ``routers`` that take a form (an upload's files and fields)."""
    return [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        and any(isinstance(p.field_info, params.Form) for p in route.dependant.body_params)
    ]


def takes_form(routes: list[APIRoute], scope: dict[str, Any]) -> bool:
    """Whether ``scope`` goes to one of ``routes`` (``form_routes``)."""
    return any(route.matches(scope)[0] == Match.FULL for route in routes)


class BodyLimit:
    """ASGI middleware: a request body over its limit gets 413, counted as it arrives (a
    Content-Length that says so is refused before reading; a chunked body is cut off when it passes).

    An upload form (multipart/form-data, to a route that takes one: ``uploads``) may have ``limit``
    bytes; any other body (JSON, ...) ``json_limit`` (default: ``limit`` too).
    """

    def __init__(
        self,
        app: Any,
        limit: int,
        json_limit: int | None = None,
        uploads: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.app, self.limit, self.uploads = app, limit, uploads
        self.json_limit = limit if json_limit is None else json_limit

    def limit_of(self, scope: dict[str, Any]) -> int:
        """The bound of this request: an upload form's, or any other body's."""
        kind = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        if not kind.startswith(b"multipart/form-data"):
            return self.json_limit
        return self.limit if self.uploads is None or self.uploads(scope) else self.json_limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        over = False

        async def counted() -> dict:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if over and not started:  # whatever the app made of the cut body, the answer is 413
                started = True
                await self._refuse(send, limit)
                return
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, guarded_send)
        if over and not started:
            await self._refuse(send, limit)

    async def _refuse(self, send: Callable, limit: int) -> None:
        await send_error(
            send,
            413,
            "too_large",
            f"the request body is larger than the limit of {limit} bytes",
            close=True,
        )
