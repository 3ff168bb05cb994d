"""The query encoders of one process, by embedding model: the deployment's own, and those of
collections still indexed with another model (while they are re-embedded). A model that fails to
load is tried again with exponential backoff, so dense search comes back by itself once its files
are readable again; meanwhile the failure is kept for `/status` and the metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core import metrics
from retrieval.embedding import Embedder, model_label

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Seconds before the next try after ``failures`` failed loads in a row: ``first``, doubling
    up to ``most`` (never below ``first``)."""

    first: float = 5.0
    most: float = 300.0

    def __post_init__(self) -> None:
        if self.first <= 0:
            raise ValueError("the first backoff must be positive")

    def delay(self, failures: int) -> float:
        return min(max(self.most, self.first), self.first * 2.0 ** max(failures - 1, 0))


@dataclass(frozen=True)
class EncoderState:
    """What `/status` says of one model: loaded, or why not and when it is tried next."""

    model: str
    loaded: bool
    error: str | None = None  # the exception's class: the message may name paths
    failures: int = 0
    retry_in_s: float | None = None


class EncoderUnavailable(RuntimeError):
    """A collection's embedding model cannot encode queries in this process now."""

    def __init__(self, state: EncoderState) -> None:
        self.state = state
        super().__init__(
            f"the embedding model {state.model} is unavailable ({state.error}); "
            f"tried again in {state.retry_in_s or 0:.0f} s"
        )


class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # one load of a model at a time
        self.encoder: Embedder | None = None
        self.error: str | None = None
        self.failures = 0
        self.retry_at = 0.0


def _load(model: str) -> Embedder:
    return Embedder(model).load()


class QueryEncoders:
    """Encoders by model label. ``get`` loads a model on first use; after a failure it answers
    None until the backoff has passed, then tries again.

    :param default: the deployment's encoder (the API loads it at start; it is never retried here).
    :param load: makes a loaded encoder of a model (tests pass one that fails).
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        default: Embedder,
        backoff: Backoff | None = None,
        load: Callable[[str], Embedder] = _load,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff = backoff or Backoff()
        self._load, self._clock = load, clock
        self._lock = threading.Lock()  # the dict only; never held while a model loads
        first = _Slot()
        first.encoder = default
        self._slots: dict[str, _Slot] = {model_label(default.name): first}
        metrics.EMBEDDING_MODEL_UP.labels(model_label(default.name)).set(1)

    def _slot(self, model: str) -> _Slot:
        with self._lock:
            slot = self._slots.get(model)
            if slot is None:
                slot = self._slots[model] = _Slot()
            return slot

    def get(self, model: str) -> Embedder | None:
        """The query encoder of ``model``; None while it cannot be loaded here (the dense side of
        its collections is off, and tried again after the backoff)."""
        slot = self._slot(model)
        encoder = slot.encoder
        if encoder is not None:
            return encoder
        with slot.lock:
            if slot.encoder is not None:  # loaded by the thread this one waited for
                return slot.encoder
            now = self._clock()
            if slot.failures and now < slot.retry_at:
                return None
            try:
                encoder = self._load(model)
            except Exception as e:  # noqa: BLE001 - any failure: dense off, tried again later
                slot.failures += 1
                slot.error = type(e).__name__
                wait = self.backoff.delay(slot.failures)
                slot.retry_at = now + wait
                metrics.EMBEDDING_MODEL_UP.labels(model).set(0)
                metrics.EMBEDDING_MODEL_LOAD_FAILURES.labels(model, slot.error).inc()
                log.warning(
                    "cannot load embedding model %s (%s: %s; failure %d); dense search of its "
                    "collections is off, tried again in %.0f s",
                    model,
                    slot.error,
                    e,
                    slot.failures,
                    wait,
                )
                return None
            if slot.failures:
                log.warning("embedding model %s loaded after %d failures", model, slot.failures)
            else:
                log.info("loaded %s for collections still indexed with it", model)
            slot.encoder, slot.error, slot.failures = encoder, None, 0
            metrics.EMBEDDING_MODEL_UP.labels(model).set(1)
            return encoder

    def state(self, model: str) -> EncoderState:
        """``model``'s state now (loaded, or failed and when it is tried again)."""
        slot = self._slot(model)
        if slot.encoder is not None:
            return EncoderState(model, True)
        if not slot.failures:
            return EncoderState(model, False)
        left = max(0.0, slot.retry_at - self._clock())
        return EncoderState(model, False, slot.error, slot.failures, round(left, 1))

    def states(self) -> list[EncoderState]:
        """Every model asked for in this process, by name."""
        with self._lock:
            models = sorted(self._slots)
        return [self.state(m) for m in models]
