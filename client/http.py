"""The askdocs HTTP API as Python calls: one connection pool, the Bearer key, the error envelope
read into ``ApiError`` in one place, and the answer stream as (event, data) pairs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs from the lines of a text/event-stream."""
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


class ApiError(Exception):
    """An API error, with the envelope's message ready to show a person. ``status`` is the HTTP
    status (0: the API could not be reached), ``code`` the envelope's ``type``."""

    def __init__(self, message: str, status: int = 0, code: str = "unreachable") -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @classmethod
    def from_response(cls, resp: httpx.Response) -> ApiError:
        try:
            err = resp.json()["error"]
            code, message = str(err["type"]), str(err["message"])
        except (ValueError, KeyError, TypeError):
            return cls(f"HTTP {resp.status_code}: {resp.text[:300]}", resp.status_code, "http")
        return cls(f"{message} ({code}, HTTP {resp.status_code})", resp.status_code, code)


def _body(resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        raise ApiError.from_response(resp)
    if not resp.content:
        return None
    if "json" not in resp.headers.get("content-type", ""):
        return resp.content
    return resp.json()


class ApiClient:
    """A client of one askdocs API. Use it as a context manager (or ``close()`` it)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    @classmethod
    def from_env(cls, api_key: str | None = None, timeout: float = 30.0) -> ApiClient:
        """The API named by ASKDOCS_API_URL (the key is given: the UI's comes from its session)."""
        return cls(os.environ.get("ASKDOCS_API_URL", DEFAULT_URL), api_key, timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, timeout: float | None = None, **kw: Any) -> Any:
        """The decoded body (JSON, bytes, or None when empty); ``ApiError`` for an error status."""
        if timeout is not None:
            kw["timeout"] = timeout
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ApiError(f"the askdocs API at {self.base_url} is unreachable: {e}") from e
        return _body(resp)

    def events(
        self, path: str, body: dict[str, Any], timeout: float = 300
    ) -> Iterator[tuple[str, Any]]:
        """(event, data) pairs of a POSTed event stream (``/ask``: sources, token..., done | error)."""
        try:
            with self._http.stream("POST", path, json=body, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ApiError.from_response(resp)
                yield from sse_events(resp.iter_lines())
        except httpx.HTTPError as e:
            raise ApiError(f"the askdocs API at {self.base_url} is unreachable: {e}") from e

    # -- service -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/status")

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/me")

    # -- sources -------------------------------------------------------------------------------
    def sources(self, collection: str | None = None) -> list[dict[str, Any]]:
        params = {"collection": collection} if collection else None
        return self.request("GET", "/sources", params=params)

    def source(self, source_id: str) -> dict[str, Any]:
        return self.request("GET", f"/sources/{source_id}")

    def add_source(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/sources", json=body)

    def update_source(self, source_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/sources/{source_id}", json=changes)

    def remove_source(self, source_id: str, keep_documents: bool = False) -> None:
        params = {"keep_documents": "true" if keep_documents else "false"}
        self.request("DELETE", f"/sources/{source_id}", params=params)

    def sync_source(self, source_id: str, confirm_deletions: bool = False) -> dict[str, Any]:
        params = {"confirm_deletions": "true"} if confirm_deletions else None
        return self.request("POST", f"/sources/{source_id}/sync", params=params)

    def source_runs(self, source_id: str, limit: int = 20) -> list[dict[str, Any]]:
        return self.request("GET", f"/sources/{source_id}/runs", params={"limit": limit})

    # -- collections ---------------------------------------------------------------------------
    def collections(self) -> list[dict[str, Any]]:
        return self.request("GET", "/collections")

    def collection(self, name: str) -> dict[str, Any]:
        """One collection, its documents counted per state (``by_status``)."""
        return self.request("GET", f"/collections/{name}")

    def create_collection(self, name: str) -> dict[str, Any]:
        return self.request("POST", "/collections", json={"name": name})

    def rename_collection(self, name: str, new: str) -> dict[str, Any]:
        return self.request("PATCH", f"/collections/{name}", json={"name": new})

    def delete_collection(self, name: str) -> None:
        self.request("DELETE", f"/collections/{name}")

    def lookup(self, collection: str, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Which of these SHA-256 the collection holds (empty when the collection does not exist)."""
        try:
            out = self.request(
                "POST", f"/collections/{collection}/lookup", json={"sha256": list(hashes)}
            )
        except ApiError as e:
            if e.status == 404:
                return {}
            raise
        return out["known"]

    # -- documents and jobs --------------------------------------------------------------------
    def documents(
        self,
        collection: str,
        limit: int = 1000,
        offset: int = 0,
        name: str | None = None,
        statuses: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Newest first; ``name``: part of the name; ``statuses``: only these states."""
        params: dict[str, Any] = {"collection": collection, "limit": limit, "offset": offset}
        if name:
            params["name"] = name
        if statuses:
            params["status"] = list(statuses)
        return self.request("GET", "/documents", params=params)

    def create_job(self, collection: str) -> str:
        return self.request("POST", "/jobs", json={"collection": collection})["id"]

    def upload(
        self,
        collection: str,
        files: Sequence[tuple[str, bytes | IO[bytes], str | None]],
        job_id: str | None = None,
        replace: bool = True,
    ) -> dict[str, Any]:
        """Upload (name, bytes or open file, content type) into a job (a new one when None)."""
        parts = [
            ("files", (name, data, ctype or "application/octet-stream"))
            for name, data, ctype in files
        ]
        form: dict[str, str] = {"collection": collection, "replace": str(replace).lower()}
        if job_id is not None:
            form["job_id"] = job_id
        return self.request("POST", "/documents", data=form, files=parts)

    def upload_paths(
        self, collection: str, files: Sequence[tuple[str, Path]], job_id: str, replace: bool = True
    ) -> dict[str, Any]:
        """Upload local files (name, path) into ``job_id`` without reading them whole first."""
        handles = [path.open("rb") for _, path in files]
        try:
            named = [(name, h, None) for (name, _), h in zip(files, handles, strict=True)]
            return self.upload(collection, named, job_id, replace)
        finally:
            for h in handles:
                h.close()

    def job(self, job_id: str, documents: bool = False) -> dict[str, Any]:
        """A job's numbers (counts, pages, rate, ETA); its documents too when asked."""
        return self.request("GET", f"/jobs/{job_id}", params={"documents": str(documents).lower()})

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/jobs/{job_id}/cancel")

    def retry_document(self, document_id: str) -> dict[str, Any]:
        return self.request("POST", f"/documents/{document_id}/retry")

    def retry_collection(
        self,
        collection: str,
        statuses: Sequence[str] = ("failed", "cancelled"),
        codes: Sequence[str] = (),
    ) -> int:
        """Run a collection's failed/cancelled documents again (only those failed with one of
        ``codes`` when given); how many were queued."""
        body = {"statuses": list(statuses), "codes": list(codes)}
        return int(self.request("POST", f"/collections/{collection}/retry", json=body)["retried"])

    def delete_document(self, document_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/documents/{document_id}")

    def chunks(self, document_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return self.request("GET", f"/documents/{document_id}/chunks", params={"limit": limit})

    def original(self, document_id: str) -> bytes:
        return self.request("GET", f"/documents/{document_id}/file")

    def page(self, document_id: str, page: int, width: int = 1000) -> dict[str, Any]:
        """A page as a PNG: ``png``, ``pages`` (in the document), ``size`` (the page's width and
        height in points, the unit of chunk boxes) and ``via`` (``pdf`` or ``libreoffice``)."""
        try:
            resp = self._http.get(f"/documents/{document_id}/pages/{page}", params={"width": width})
        except httpx.HTTPError as e:
            raise ApiError(f"the askdocs API at {self.base_url} is unreachable: {e}") from e
        if resp.status_code >= 400:
            raise ApiError.from_response(resp)
        w, _, h = resp.headers.get("x-page-size", "0x0").partition("x")
        return {
            "png": resp.content,
            "pages": int(resp.headers.get("x-page-count", "0")),
            "size": (float(w or 0), float(h or 0)),
            "via": resp.headers.get("x-rendered-from", "pdf"),
        }

    def chunk_boxes(
        self, chunk_id: int, start: int | None = None, end: int | None = None
    ) -> dict[str, Any]:
        """Where a chunk's lines stand on its pages (``boxes``: page -> [x0, top, x1, bottom] in
        points); with ``start``/``end`` of its text, that span's boxes too (``sentence``)."""
        params = {"start": start, "end": end} if start is not None and end is not None else {}
        return self.request("GET", f"/chunks/{chunk_id}/boxes", params=params)

    def metrics(self) -> str:
        """Prometheus text of every process (an admin's key, or ASKDOCS_METRICS_PUBLIC)."""
        body = self.request("GET", "/metrics")
        return body.decode() if isinstance(body, bytes) else str(body)

    # -- questions -----------------------------------------------------------------------------
    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/search", json=body)

    def ask(
        self,
        collection: str,
        question: str,
        conversation_id: str | None = None,
        k: int | None = None,
        timeout: float = 300,
    ) -> Iterator[tuple[str, Any]]:
        """(event, data) pairs of the answer stream: sources, token..., done | error."""
        body: dict[str, Any] = {
            "collection": collection,
            "question": question,
            "conversation_id": conversation_id,
        }
        if k is not None:
            body["k"] = k
        return self.events("/ask", body, timeout)
