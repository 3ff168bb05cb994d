"""The API's edge, attacked over real HTTP: uvicorn on the real app factory (SQLite catalog, the
machine's Redis, the real embedding model), a loopback generator that counts its requests.

Large bodies without a valid key are refused before the server reads them; JSON bodies are
capped; /health costs the generator one request per TTL however often it is asked; a client address
and a key past their rate limits get 429 with Retry-After, and get in again once the window passes;
so does an address that asks the open routes (/health) too often, on a count of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from askdocs.supervisor import free_port
from core.auth import Principal, add_user, create_key, revoke_key
from core.catalog import Catalog
from core.settings import Settings
from tests import redis_server
from tests.integration.conftest import wait_for
from tests.security.edge_server import EdgeServer, FakeGenerator, edge_server, stream_post

pytestmark = pytest.mark.integration

# The broker database of this module's API (service tests use 11, the access matrix 12, the
# integration stack 13 and 14, the sources processes 15).
REDIS_DB = 7
PER_KEY = 10
PER_ADDRESS = 5
# Above the 40 concurrent /health calls (and the polls around them) of the health test's window
OPEN_PER_ADDRESS = 60
HEALTH_TTL_S = 3.0
JSON_CAP = 64 * 1024
ATTACK_BYTES = 200 * 1024 * 1024
# What a refused stream may get into the server before the answer: the kernel's socket buffers on
# both sides and uvicorn's 64 KiB before it stops reading (before the edge: all 200 MB)
READ_BOUND = 24 * 1024 * 1024


@pytest.fixture(scope="module")
def generator() -> Iterator[FakeGenerator]:
    with FakeGenerator() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, generator: FakeGenerator
) -> Iterator[EdgeServer]:
    redis_url = redis_server.url(REDIS_DB)
    redis.Redis.from_url(redis_url).flushdb()
    with edge_server(
        tmp_path_factory.mktemp("edge"),
        redis_url,
        generator.url,
        rate_limit_per_key=str(PER_KEY),
        rate_limit_per_address=str(PER_ADDRESS),
        rate_limit_open_per_address=str(OPEN_PER_ADDRESS),
        rate_limit_window_seconds="1",
        health_ttl_seconds=str(HEALTH_TTL_S),
        max_json_bytes=str(JSON_CAP),
    ) as running:
        yield running


def client(server: EdgeServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def new_key(server: EdgeServer, user: str) -> str:
    """A key of a new user, made in the server's own catalog as `askdocs key create` does."""
    catalog = Catalog(f"sqlite:///{(server.data_dir / 'catalog.db').resolve()}")
    with catalog.session() as s:
        add_user(s, user)
        key = create_key(s, user)
    catalog.engine.dispose()
    return key


def not_limited(server: EdgeServer, key: str) -> bool:
    with client(server, key) as c:
        return c.get("/me").status_code == 200


def address_free(server: EdgeServer) -> bool:
    """Whether this address may ask without a valid key again (a key valid here before is not
    counted against the address, so it cannot tell)."""
    with client(server, None) as c:
        return c.get("/me").status_code == 401


def fresh(server: EdgeServer) -> bool:
    """Whether a new window has begun, for the address and for the admin key alike."""
    return address_free(server) and not_limited(server, server.admin_key)


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (None, "an API key is required"),
        ("askd_0123456789ab_" + "x" * 43, "unknown, revoked or mistyped"),
    ],
    ids=["anonymous", "forged"],
)
def test_a_big_upload_without_a_valid_key_is_refused_before_it_is_read(
    server: EdgeServer, who: str | None, message: str
) -> None:
    wait_for(lambda: fresh(server), 10, "a fresh rate-limit window")
    rss_before = server.rss_bytes()
    headers = {"Authorization": f"Bearer {who}"} if who else {}
    got = stream_post(server.port, "/documents", ATTACK_BYTES, headers)
    assert got.status == 401, got
    assert got.headers["www-authenticate"] == "Bearer"
    error = json.loads(got.body)["error"]
    assert error["type"] == "unauthorized" and message in error["message"]
    assert got.sent < READ_BOUND, f"{got.sent} bytes went in before the answer"
    assert server.rss_bytes() - rss_before < READ_BOUND


def test_json_bodies_are_capped_uploads_are_not(server: EdgeServer) -> None:
    wait_for(lambda: fresh(server), 10, "a fresh rate-limit window")
    with client(server, server.admin_key) as admin:
        big = b'{"collection": "default", "query": "' + b"q" * JSON_CAP + b'"}'
        declared = admin.post("/search", content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and declared.json()["error"]["type"] == "too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192]

        streamed = admin.post(
            "/search", content=chunked(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413, streamed.text
        # a form sent to a route that takes JSON gets the JSON cap, not the upload's
        form = admin.post(
            "/search",
            content=b"--b\r\n" + b"f" * JSON_CAP + b"\r\n--b--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert form.status_code == 413, form.text
        small = admin.post("/collections", json={"name": "edge-ok"})
        assert small.status_code == 201, small.text
        upload = admin.post(
            "/documents",
            data={"collection": "edge-ok"},
            files=[("files", ("big.txt", b"A lamp in the window. " * (JSON_CAP // 10)))],
        )
        assert upload.status_code == 202, upload.text  # an upload keeps max_request_bytes


def test_health_is_answered_from_one_check_per_ttl(
    server: EdgeServer, generator: FakeGenerator
) -> None:
    with client(server, None) as anyone:
        first = anyone.get("/health").json()
        asked = generator.requests
        again = anyone.get("/health").json()
        assert again["age_s"] < HEALTH_TTL_S, "the machine is too slow for this test's TTL"
        assert again["checked_at"] == first["checked_at"] and generator.requests == asked
        assert again["components"]["generator"]["models"] == ["fake"]

        # the generator hangs: a check after the TTL runs once, in the background
        generator.delay_s = 1.5
        try:
            wait_for(lambda: anyone.get("/health").json()["age_s"] >= HEALTH_TTL_S, 30, "the TTL")
            with ThreadPoolExecutor(20) as pool:
                answers = list(pool.map(lambda _: anyone.get("/health"), range(40)))
            assert all(r.status_code == 200 for r in answers)
            # answered from the kept check while the new one waited on the generator (on a busy
            # machine the last of the 40 may already see the new one)
            assert first["checked_at"] in {r.json()["checked_at"] for r in answers}
            wait_for(
                lambda: anyone.get("/health").json()["checked_at"] != first["checked_at"],
                30,
                "the next check",
            )
        finally:
            generator.delay_s = 0.0
        assert generator.most_in_flight == 1
        assert generator.requests > asked

        # slower than the probe's timeout: reported as down, and not asked again meanwhile (a
        # retry would stack a second request on a server that hangs)
        generator.delay_s = 2.5
        try:
            wait_for(
                lambda: not anyone.get("/health").json()["components"]["generator"]["ok"],
                30,
                "a check that timed out",
            )
        finally:
            generator.delay_s = 0.0
        assert generator.most_in_flight == 1


def burst(c: httpx.Client, path: str, most: int) -> tuple[list[int], httpx.Response]:
    """Requests to ``path`` until one gets 429 (``most`` at most): the statuses and the last."""
    statuses = []
    for _ in range(most):
        r = c.get(path)
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    return statuses, r


@pytest.mark.parametrize(
    "key", [None, "askd_0123456789ab_" + "y" * 43], ids=["anonymous", "made-up-keys"]
)
def test_an_address_past_its_limit_gets_429_then_gets_in_again(
    server: EdgeServer, key: str | None
) -> None:
    """Made-up keys count against the address before they are looked up: past the limit they
    get 429, not a lookup and a 401."""
    wait_for(lambda: fresh(server), 10, "a fresh rate-limit window")
    with client(server, key) as attacker:
        statuses, r = burst(attacker, "/collections", 6 * PER_ADDRESS)
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}, statuses
    assert r.json()["error"]["type"] == "rate_limited"
    assert r.headers["retry-after"] == "1"  # the rest of a one-second window
    wait_for(lambda: address_free(server), 10, "the window to pass")


def test_junk_from_an_address_does_not_lock_out_a_valid_key_from_it(server: EdgeServer) -> None:
    """Behind one NAT or proxy, made-up keys use up the address's count; a key that was valid
    here before still gets in (it is not counted against the address)."""
    key = new_key(server, "behind-nat")
    wait_for(lambda: not_limited(server, key), 10, "the key known as valid here")
    with client(server, "askd_0123456789ab_" + "z" * 43) as junk, client(server, key) as user:
        for _ in range(3):  # statuses of the same window: the junk is refused, the key is not
            statuses, _r = burst(junk, "/collections", 6 * PER_ADDRESS)
            assert statuses[-1] == 429, statuses
            if user.get("/me").status_code == 200 and junk.get("/me").status_code == 429:
                break
        else:
            raise AssertionError("the valid key was held back with the junk")
    wait_for(lambda: address_free(server), 10, "the window to pass")


def test_a_key_past_its_limit_gets_429_others_do_not(server: EdgeServer) -> None:
    key = new_key(server, "burst")
    with client(server, key) as hurried, client(server, server.admin_key) as admin:
        statuses, r = burst(hurried, "/me", 6 * PER_KEY)
        assert statuses[-1] == 429 and set(statuses[:-1]) == {200}, statuses
        assert "this API key" in r.json()["error"]["message"]
        assert r.headers["retry-after"] == "1"  # the rest of a one-second window
        assert admin.get("/me").status_code == 200
    wait_for(lambda: not_limited(server, key), 10, "the window to pass")


def test_an_address_asking_health_too_often_gets_429_on_a_count_of_its_own(
    server: EdgeServer,
) -> None:
    """/health is open and cheap, yet answering it takes the API's time: past its own limit an
    address gets 429 there, while its keyed requests and its count without a key are untouched."""
    with client(server, None) as anyone, client(server, server.admin_key) as admin:
        statuses, r = burst(anyone, "/health", 6 * OPEN_PER_ADDRESS)
        assert statuses[-1] == 429 and set(statuses[:-1]) == {200}, statuses
        assert len(statuses) > OPEN_PER_ADDRESS  # not the anonymous limit of the other routes
        error = r.json()["error"]
        assert error["type"] == "rate_limited" and "open routes" in error["message"]
        assert r.headers["retry-after"] == "1"  # the rest of a one-second window
        assert admin.get("/me").status_code == 200  # a key's requests count elsewhere
        assert anyone.get("/collections").status_code == 401  # and so do those without a key
        wait_for(lambda: anyone.get("/health").status_code == 200, 10, "the window to pass")


def test_a_key_valid_in_one_api_process_is_known_to_the_others(tmp_path: Path) -> None:
    """With several API processes, junk from a shared address must not lock a valid key out of a
    process that has not looked it up yet: which keys are valid is shared through Redis, and a
    revoked key is forgotten by all of them."""
    from api.edge import BAD_KEY, Gate
    from api.ratelimit import RateLimiter

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
    with catalog.session() as s:
        add_user(s, "nat-user")
        key = create_key(s, "nat-user")
    address = f"proxy-{uuid.uuid4()}"  # a counter of its own, in a window longer than the test

    def process() -> Gate:  # each API process has its own gate and its own Redis connection
        limiter = RateLimiter(redis_server.url(REDIS_DB), window_s=3600)
        return Gate(catalog, limiter, per_key=100, per_address=1)

    first, second = process(), process()
    assert isinstance(first.admit(address, key), Principal)
    junk = [second.admit(address, "askd_0123456789ab_" + "q" * 43) for _ in range(3)]
    assert getattr(junk[-1], "status", None) == 429, junk
    who = second.admit(address, key)  # never looked up in this process
    assert isinstance(who, Principal) and who.user == "nat-user"
    with catalog.session() as s:
        revoke_key(s, who.key_id or "")
    assert second.admit(address, key) == BAD_KEY
    third = process()
    assert getattr(third.admit(address, key), "status", None) == 429  # counted as an address again
    catalog.engine.dispose()


def test_the_limits_fail_open_when_redis_is_down(tmp_path: Path) -> None:
    """A rate limit must not take the API down with Redis: nothing counted, every request in."""
    from api.edge import Edge, Gate
    from api.ratelimit import RateLimiter

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
    with catalog.session() as s:
        add_user(s, "eve")
        key = create_key(s, "eve")
    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0", 1, timeout_s=0.2)
    assert limiter.hit("addr:127.0.0.1") is None
    gate = Gate(catalog, limiter, per_key=1, per_address=1)
    for _ in range(3):
        who = gate.admit("127.0.0.1", key)
        assert isinstance(who, Principal) and who.user == "eve"
    assert asyncio.run(limiter.hit_async("open:127.0.0.1")) is None
    settings = Settings(
        data_dir=tmp_path,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_open_per_address=1,
        rate_limit_window_seconds=1,
    )
    edge = Edge(None, settings, catalog, open_paths={"/health"})

    async def open_calls() -> list[object]:
        return [await edge.admit_open("127.0.0.1") for _ in range(3)]

    assert asyncio.run(open_calls()) == [None, None, None]
    catalog.engine.dispose()
