"""The one client for every OpenAI-compatible generator (vLLM, the embedded llama.cpp server)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Generator
from typing import Any

import httpx
import openai

from core import logs

_COUNT_CACHE = 4096

# Token counting routes, tried in order: vLLM's, then llama-cpp-python's.
_TOKENIZE_ROUTES = (
    (
        "/tokenize",
        lambda model, text: {"model": model, "prompt": text, "add_special_tokens": False},
    ),
    ("/extras/tokenize/count", lambda model, text: {"input": text, "model": model}),
)


def request_headers() -> dict[str, str] | None:
    """The request id to send the generator (vLLM takes it as its own request id)."""
    rid = logs.request_id()
    return {logs.REQUEST_HEADER: rid} if rid else None


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
        retries: int = 2,
    ) -> None:
        """:param retries: tries again after a connection error or a timeout (the SDK's
        ``max_retries``); a probe that must not stack requests on a hanging server passes 0."""
        self.base_url = base_url
        self._root = base_url.rstrip("/").removesuffix("/v1")
        self._timeout = timeout
        self._tokenize: int | None = None  # index into _TOKENIZE_ROUTES once one answered; -1: none
        self._counted: OrderedDict[str, int] = OrderedDict()  # passages recur across questions
        self._count_lock = threading.Lock()
        self._model = model
        self._context: dict[str, int | None] = {}
        self._extra_body = extra_body or {}
        # prompt tokens read per second by the server, from the answers so far (None: not yet)
        self._prompt_rate: float | None = None
        # Retries on connection errors are the SDK's (max_retries); it does not retry 4xx.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries
        )

    def models(self) -> list[str]:
        """Model ids the server offers (``/v1/models``)."""
        try:
            listed = self._client.models.list().data
        except openai.APIError as e:  # connection errors are APIError subclasses
            raise GeneratorUnavailable(f"generator at {self.base_url} unavailable: {e}") from e
        for m in listed:  # vLLM says how long a prompt plus answer may be; llama.cpp does not
            length = (m.model_extra or {}).get("max_model_len")
            self._context[m.id] = length if isinstance(length, int) else None
        return [m.id for m in listed]

    def context_length(self) -> int | None:
        """Tokens the served model takes in all (prompt and answer) where the server says so."""
        model = self.model
        if model not in self._context:
            self.models()
        return self._context.get(model)

    @property
    def model(self) -> str:
        if self._model is None:
            names = self.models()
            if not names:
                raise GeneratorUnavailable(f"generator at {self.base_url} lists no model")
            self._model = names[0]
        return self._model

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        max_tokens: int = 384,
        temperature: float = 0.0,
        grammar: str | None = None,
    ) -> Generator[str, None, None]:
        """Yield the answer's text pieces as they arrive. Closing the iterator early closes the
        connection, which stops the server's generation (llama.cpp's and vLLM's servers stop a
        stream whose client went away).

        :param grammar: a GBNF grammar the answer must follow (``generation.grammar``), sent as
            llama.cpp's server takes it (the request's ``grammar`` field)."""
        extra = dict(self._extra_body)
        if grammar is not None:
            extra["grammar"] = grammar
        try:
            stream = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                extra_body=extra or None,
                extra_headers=request_headers(),
            )
            try:
                for event in stream:
                    if event.choices and event.choices[0].delta.content:
                        yield event.choices[0].delta.content
            finally:
                stream.close()
        except openai.APIError as e:
            raise GeneratorUnavailable(f"generator at {self.base_url} failed: {e}") from e

    def observe_prompt(self, tokens: int, seconds: float) -> None:
        """A prompt of ``tokens`` took ``seconds`` to its first answer token: update the server's
        reading speed (a moving average, so one slow answer under load does not decide alone)."""
        if tokens <= 0 or seconds <= 0:
            return
        rate = tokens / seconds
        self._prompt_rate = (
            rate if self._prompt_rate is None else 0.7 * self._prompt_rate + 0.3 * rate
        )

    @property
    def prompt_rate(self) -> float | None:
        """Prompt tokens the server reads per second, as measured on the answers so far."""
        return self._prompt_rate

    def count_tokens(self, text: str) -> int | None:
        """Tokens of ``text`` by the generator's own tokenizer, asked of the server; None when it
        offers no tokenize route (then callers estimate)."""
        if self._tokenize == -1:
            return None
        with self._count_lock:
            if text in self._counted:
                self._counted.move_to_end(text)
                return self._counted[text]
        n = self._ask_count(text)
        if n is not None:
            with self._count_lock:
                self._counted[text] = n
                if len(self._counted) > _COUNT_CACHE:
                    self._counted.popitem(last=False)
        return n

    def _ask_count(self, text: str) -> int | None:
        order = [self._tokenize] if self._tokenize is not None else range(len(_TOKENIZE_ROUTES))
        refused = 0
        for i in order:
            route, body = _TOKENIZE_ROUTES[i]
            try:
                resp = httpx.post(self._root + route, json=body(self.model, text), timeout=10)
            except httpx.HTTPError:
                continue  # unreachable now: estimate this time, ask again next time
            if resp.status_code == 200:
                try:
                    data = resp.json()
                    count = int(data.get("count", len(data.get("tokens", []))))
                except (ValueError, TypeError, AttributeError):
                    refused += 1
                    continue
                self._tokenize = i
                return count
            refused += 1
        if self._tokenize is None and refused == len(_TOKENIZE_ROUTES):
            self._tokenize = -1  # the server has no tokenize route: stop asking
        return None

    def token_counter(self, fallback: Callable[[str], int]) -> Callable[[str], int]:
        """A counter by the server's tokenizer where it has one, else ``fallback``."""

        def count(text: str) -> int:
            n = self.count_tokens(text)
            return fallback(text) if n is None else n

        return count
