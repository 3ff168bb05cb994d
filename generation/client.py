"""The one client for every OpenAI-compatible generator (vLLM, the embedded llama.cpp server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai


class GeneratorUnavailable(RuntimeError):
    """The generator cannot be reached or refused the request; the API answers 503."""


class GeneratorClient:
    """Streams chat completions. Construction is cheap; nothing connects until a call."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str = "not-needed",
        timeout: float = 120.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url
        self._model = model
        self._extra_body = extra_body or {}
        # Retries on connection errors are the SDK's (max_retries); it does not retry 4xx.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2
        )

    def models(self) -> list[str]:
        """Model ids the server offers (``/v1/models``)."""
        try:
            return [m.id for m in self._client.models.list().data]
        except openai.APIError as e:  # connection errors are APIError subclasses
            raise GeneratorUnavailable(f"generator at {self.base_url} unavailable: {e}") from e

    @property
    def model(self) -> str:
        if self._model is None:
            names = self.models()
            if not names:
                raise GeneratorUnavailable(f"generator at {self.base_url} lists no model")
            self._model = names[0]
        return self._model

    def stream_chat(
        self, messages: list[dict[str, str]], max_tokens: int = 384, temperature: float = 0.0
    ) -> Iterator[str]:
        """Yield the answer's text pieces as they arrive."""
        try:
            stream = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                extra_body=self._extra_body or None,
            )
            for event in stream:
                if event.choices and event.choices[0].delta.content:
                    yield event.choices[0].delta.content
        except openai.APIError as e:
            raise GeneratorUnavailable(f"generator at {self.base_url} failed: {e}") from e
