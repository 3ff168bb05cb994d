"""The UI's only way to askdocs: its HTTP API."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


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
    """An API error, with the envelope's message ready to show a person."""


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        err = resp.json()["error"]
        raise ApiError(f"{err['message']} ({err['type']}, HTTP {resp.status_code})")
    except (ValueError, KeyError, TypeError):
        raise ApiError(f"HTTP {resp.status_code}: {resp.text[:300]}") from None


@dataclass
class ApiClient:
    base_url: str
    timeout: float = 30.0
    api_key: str | None = None

    @classmethod
    def from_env(cls, api_key: str | None = None) -> ApiClient:
        """The API named by ASKDOCS_API_URL; the key comes from the signed-in session, not the env."""
        return cls(os.environ.get("ASKDOCS_API_URL", "http://127.0.0.1:8000"), api_key=api_key)

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _req(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = httpx.request(
                method, self.base_url + path, timeout=self.timeout, headers=self._headers, **kw
            )
        except httpx.HTTPError as e:
            raise ApiError(f"the askdocs API at {self.base_url} is unreachable: {e}") from e
        _raise_for(resp)
        if "json" not in resp.headers.get("content-type", ""):
            return resp.content
        return resp.json()

    def health(self) -> dict[str, Any]:
        return self._req("GET", "/health")

    def me(self) -> dict[str, Any]:
        return self._req("GET", "/me")

    def collections(self) -> list[dict[str, Any]]:
        return self._req("GET", "/collections")

    def create_collection(self, name: str) -> dict[str, Any]:
        return self._req("POST", "/collections", json={"name": name})

    def documents(self, collection: str) -> list[dict[str, Any]]:
        return self._req("GET", "/documents", params={"collection": collection})

    def upload(self, collection: str, files: list[tuple[str, bytes, str | None]]) -> dict[str, Any]:
        parts = [
            ("files", (name, data, ctype or "application/octet-stream"))
            for name, data, ctype in files
        ]
        return self._req("POST", "/documents", data={"collection": collection}, files=parts)

    def job(self, job_id: str) -> dict[str, Any]:
        """A job's numbers (counts, pages, rate, ETA), without its document list."""
        return self._req("GET", f"/jobs/{job_id}", params={"documents": "false"})

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self._req("POST", f"/jobs/{job_id}/cancel")

    def retry_document(self, document_id: str) -> dict[str, Any]:
        return self._req("POST", f"/documents/{document_id}/retry")

    def delete_document(self, document_id: str) -> dict[str, Any]:
        return self._req("DELETE", f"/documents/{document_id}")

    def chunks(self, document_id: str, limit: int = 50) -> list[dict[str, Any]]:
        return self._req("GET", f"/documents/{document_id}/chunks", params={"limit": limit})

    def original(self, document_id: str) -> bytes:
        return self._req("GET", f"/documents/{document_id}/file")

    def rename_collection(self, name: str, new: str) -> dict[str, Any]:
        return self._req("PATCH", f"/collections/{name}", json={"name": new})

    def delete_collection(self, name: str) -> None:
        self._req("DELETE", f"/collections/{name}")

    def status(self) -> dict[str, Any]:
        return self._req("GET", "/status")

    def ask(
        self, collection: str, question: str, conversation_id: str | None = None
    ) -> Iterator[tuple[str, Any]]:
        """(event, data) pairs of the answer stream: sources, token..., done | error."""
        body = {"collection": collection, "question": question, "conversation_id": conversation_id}
        try:
            with httpx.stream(
                "POST",
                self.base_url + "/ask",
                json=body,
                headers=self._headers,
                timeout=300,
            ) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    _raise_for(resp)
                yield from sse_events(resp.iter_lines())
        except httpx.HTTPError as e:
            raise ApiError(f"the askdocs API at {self.base_url} is unreachable: {e}") from e
