"""One error envelope for every failure, and its declaration in the OpenAPI schema."""

from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from api.schemas import ErrorEnvelope
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from generation.client import GeneratorUnavailable

log = logging.getLogger(__name__)

_WHY = {
    400: "The request could not be read",
    401: "No API key, or one that is unknown or revoked",
    403: "The key may read this collection but not change it, or is not an admin's",
    404: "No such thing, or one this key may not see",
    409: "It exists already, or this server is not set up for it",
    413: "Too large, or too many files",
    422: "The request is not valid",
    503: "A dependency (Redis, the generator) is down",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        detail: object = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.detail = status, type_, message, detail
        self.headers = headers


def envelope(
    status: int,
    type_: str,
    message: str,
    detail: object = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "message": message, "detail": detail}},
        status_code=status,
        headers=headers,
    )


def errors(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for these error statuses, all with the envelope (422 always)."""
    return {c: {"model": ErrorEnvelope, "description": _WHY[c]} for c in sorted({*codes, 400, 422})}


def domain_status(e: DomainError) -> tuple[int, str]:
    """The HTTP status and envelope type of a domain error: the one place they are chosen."""
    if isinstance(e, NotFound):
        return 404, "not_found"
    if isinstance(e, Forbidden):
        return 403, "forbidden"
    if isinstance(e, Invalid):
        return 422, "validation_error"
    if isinstance(e, Conflict):
        return 409, "conflict"
    return 409, "conflict"


def stream_error(e: Exception) -> dict[str, str]:
    """The ``error`` event of a stream (``/ask`` and the OpenAI route alike) for a failure that
    happened after the response started: the envelope's type and message, never a traceback."""
    if isinstance(e, ApiError):
        return {"type": e.type, "message": e.message}
    if isinstance(e, DomainError):
        return {"type": domain_status(e)[1], "message": e.message}
    if isinstance(e, GeneratorUnavailable):
        return {"type": "generator_unavailable", "message": str(e)}
    log.exception("error in a stream")
    return {"type": "internal", "message": "internal error; the server log has the details"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_r: Request, e: DomainError) -> JSONResponse:
        status, type_ = domain_status(e)
        return envelope(status, type_, e.message)

    @app.exception_handler(ApiError)
    async def _api_error(_r: Request, e: ApiError) -> JSONResponse:
        return envelope(e.status, e.type, e.message, e.detail, e.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_r: Request, e: HTTPException) -> JSONResponse:
        return envelope(e.status_code, "http_error", str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_r: Request, e: RequestValidationError) -> JSONResponse:
        detail = [{"loc": [str(p) for p in x["loc"]], "msg": x["msg"]} for x in e.errors()]
        return envelope(422, "validation_error", "the request is not valid", detail)

    @app.exception_handler(GeneratorUnavailable)
    async def _gen_down(_r: Request, e: GeneratorUnavailable) -> JSONResponse:
        return envelope(503, "generator_unavailable", str(e))

    @app.exception_handler(OperationalError)
    @app.exception_handler(redis.exceptions.ConnectionError)
    async def _queue_down(_r: Request, e: Exception) -> JSONResponse:
        return envelope(503, "queue_unavailable", "the job queue (Redis) is unreachable")

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return envelope(500, "internal", "internal error; the server log has the details")
