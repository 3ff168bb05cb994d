"""The backoff of a failing embedding model's loads (pure logic: a loader that fails on demand
and a clock the test moves; the real model's failure and return are in
tests/service/test_dense_recovery.py)."""

from __future__ import annotations

import pytest

from retrieval.embedding import Embedder
from retrieval.query_encoders import Backoff, QueryEncoders

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Fails with ``error`` while it is set; counts its calls."""

    def __init__(self) -> None:
        self.error: Exception | None = PermissionError("model directory unreadable")
        self.calls = 0

    def __call__(self, model: str) -> Embedder:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Embedder(model)  # never loaded: these tests only hand it back


def test_the_backoff_doubles_from_its_first_wait_up_to_its_longest() -> None:
    b = Backoff(5, 300)
    assert [b.delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert Backoff(10, 2).delay(3) == 10  # a longest wait below the first one: the first
    with pytest.raises(ValueError):
        Backoff(0, 10)


def test_a_failed_load_is_tried_again_after_the_backoff_and_then_kept() -> None:
    clock, load = Clock(), Loader()
    encoders = QueryEncoders(Embedder("packaged:default"), Backoff(5, 20), load, clock)
    assert encoders.get("/models/old") is None and load.calls == 1
    state = encoders.state("/models/old")
    assert (state.loaded, state.error, state.failures, state.retry_in_s) == (
        False,
        "PermissionError",
        1,
        5.0,
    )
    clock.now += 4.9
    assert encoders.get("/models/old") is None and load.calls == 1  # waiting out the backoff
    clock.now += 0.2
    assert encoders.get("/models/old") is None and load.calls == 2  # tried, failed again
    assert encoders.state("/models/old").retry_in_s == 10.0
    load.error = None
    clock.now += 9.9
    assert encoders.get("/models/old") is None and load.calls == 2
    clock.now += 0.2
    found = encoders.get("/models/old")
    assert found is not None and found.name == "/models/old" and load.calls == 3
    assert encoders.get("/models/old") is found and load.calls == 3  # loaded once, kept
    assert encoders.state("/models/old").loaded and encoders.state("/models/old").error is None


def test_the_deployments_model_is_loaded_and_listed_first_seen() -> None:
    load = Loader()
    default = Embedder("packaged:default")
    encoders = QueryEncoders(default, Backoff(), load, Clock())
    assert encoders.get("packaged:default") is default and load.calls == 0
    encoders.get("/models/b")
    assert [(s.model, s.loaded) for s in encoders.states()] == [
        ("/models/b", False),
        ("packaged:default", True),
    ]
