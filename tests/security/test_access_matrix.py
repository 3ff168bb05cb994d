"""Access control, every route: the rules of access_rules.ROUTES run against the real stack.

Each route of the app must have a rule and a request here, so a route added later without one fails
the suite. Every rule is run by a caller without a key, with a forged key, by carol (no access), bob
(a collection of his own, no access to Alice's), dave (reads Alice's collections), Alice (owns them)
and the admin; each must get what the rule says, and no one without access may see Alice's secret.
Users and keys are made with the CLI, as an operator would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Stack, running_stack, wait_job
from tests.security.access_rules import ROUTES, RouteKey, Rule, markdown, route_keys

# The broker database of this module's stack (service tests use 11, the integration stack 13,
# the model tests 14, the sources processes 15).
REDIS_DB = 12

# Several hundred requests a minute from one address, many without a valid key: above the rate
# limits, which have tests of their own; here every refusal must be the access rule's.
NO_RATE_LIMITS = {
    "ASKDOCS_RATE_LIMIT_PER_KEY": "1000000",
    "ASKDOCS_RATE_LIMIT_PER_ADDRESS": "1000000",
}

ALICE_SECRET = "ZEBRA-7741"
BOB_SECRET = "MARMALADE-3309"
ALICE_TEXT = f"The vault code of the Ashgrove archive is {ALICE_SECRET}. Only Alice knows it."
BOB_TEXT = f"The launch phrase of the Birchmoor observatory is {BOB_SECRET}."
# Alice's question, kept as her conversation's title: no one else may see it
ALICE_QUESTION = "Which Quillon ledger did the archivist seal?"
# no document has this type: the answer abstains at once, without the generator
NO_MATCH = {"types": ["zzz"]}
# https on a closed loopback port: a source that exists, and whose syncs fail without going out
SOURCE_URL = "https://127.0.0.1:9/handbook/"
TOKEN = "ghp_alicestokenNEVERshown0123456789"

# What nobody without access may find in any answer; for listings, Alice's collection names too.
SECRETS = (ALICE_SECRET, "vault.txt", "Quillon", TOKEN)
ALICE_NAMES = ("alice-vault", "alice-spare", "alice-handbook")
ATTACKERS = ("carol", "bob")
ANONYMOUS = ("nobody", "forged")


@dataclass
class World:
    stack: Stack
    clients: dict[str, httpx.Client]
    doc: str  # Alice's secret document (ready)
    spare_doc: str  # deleted by its row
    failed_doc: str  # retried by its row
    job: str  # the upload job of her documents
    spare_job: str  # an empty job, cancelled by its row
    source: str
    spare_source: str  # deleted by its row
    conversation: str
    spare_conversation: str  # deleted by its row
    bob_doc: str
    pdf_doc: str  # a PDF of Alice's: its pages render
    pdf_chunk: int  # a chunk of it, with boxes

    def __getitem__(self, who: str) -> httpx.Client:
        return self.clients[who]


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    kw: dict[str, Any] = field(default_factory=dict)


Build = Callable[[World, str], Req]


def _key(stack: Stack, user: str) -> str:
    out = stack.cli("user", "add", user)
    assert out.returncode == 0, out.stdout + out.stderr
    out = stack.cli("key", "create", user, "--label", "test")
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()[0].strip()


def _upload(client: httpx.Client, collection: str, files: dict[str, bytes]) -> dict:
    resp = client.post(
        "/documents",
        data={"collection": collection},
        files=[("files", (name, data)) for name, data in files.items()],
    )
    assert resp.status_code == 202, resp.text
    return resp.json()


def _ledger_pdf() -> bytes:
    """A two-page PDF of Alice's (its pages and its chunks' boxes are what the page routes show)."""
    import io

    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    for n in (1, 2):
        c.drawString(72, 700, f"Ledger page {n}: the Ashgrove archive keeps its ledgers in oak.")
        c.showPage()
    c.save()
    return out.getvalue()


def _chunk_of(client: httpx.Client, collection: str, document_id: str) -> int:
    body = {"collection": collection, "query": "Ashgrove archive ledgers in oak"}
    resp = client.post("/search", json=body)
    assert resp.status_code == 200, resp.text
    return next(p["chunk_id"] for p in resp.json()["passages"] if p["document_id"] == document_id)


def _web_source(client: httpx.Client, collection: str, name: str, **extra: Any) -> str:
    body = {
        "collection": collection,
        "name": name,
        "kind": "web",
        "config": {"url": SOURCE_URL, "max_depth": 0},
        "sync_now": False,
        **extra,
    }
    resp = client.post("/sources", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _ask(client: httpx.Client, collection: str, question: str) -> str:
    """Ask (an answer that abstains at once) and return the conversation's id."""
    body = {"collection": collection, "question": question, "filters": NO_MATCH}
    resp = client.post("/ask", json=body)
    assert resp.status_code == 200, resp.text
    assert "event: done" in resp.text, resp.text
    for block in resp.text.split("\n\n"):
        if block.startswith("event: sources"):
            return json.loads(block.split("data: ", 1)[1])["conversation_id"]
    raise AssertionError(f"no sources event in {resp.text[:500]}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("access-matrix")
    with running_stack(data, REDIS_DB, extra_env=NO_RATE_LIMITS) as stack:
        keys = {u: _key(stack, u) for u in ("alice", "bob", "carol", "dave")}
        out = stack.cli("user", "add", "erin")  # the member Alice adds and removes
        assert out.returncode == 0, out.stdout + out.stderr
        clients = {u: stack.client(k) for u, k in keys.items()}
        clients["nobody"] = stack.client(None)
        clients["forged"] = stack.client("askd_0123456789ab_" + "x" * 43)
        clients["admin"] = stack.client(stack.admin_key)
        alice, bob = clients["alice"], clients["bob"]

        job = _upload(
            alice,
            "alice-vault",
            {
                "vault.txt": ALICE_TEXT.encode(),
                "spare.txt": b"A page to delete.",
                "empty.txt": b"",
                "ledger.pdf": _ledger_pdf(),
            },
        )
        b_job = _upload(bob, "bob-notes", {"observatory.txt": BOB_TEXT.encode()})
        docs = {d["name"]: d for d in wait_job(alice, job["id"])["documents"]}
        (b_doc,) = wait_job(bob, b_job["id"])["documents"]
        assert docs["vault.txt"]["status"] == docs["spare.txt"]["status"] == "ready", docs
        assert docs["ledger.pdf"]["status"] == "ready", docs["ledger.pdf"]
        assert docs["empty.txt"]["status"] == "failed", docs["empty.txt"]
        assert b_doc["status"] == "ready", b_doc
        assert alice.post("/collections", json={"name": "alice-spare"}).status_code == 201
        for coll in ("alice-vault", "alice-spare"):
            r = alice.put(f"/collections/{coll}/members/dave", json={"role": "read"})
            assert r.status_code == 200, r.text
        spare_job = alice.post("/jobs", json={"collection": "alice-vault"})
        assert spare_job.status_code == 201, spare_job.text
        w = World(
            stack=stack,
            clients=clients,
            doc=docs["vault.txt"]["id"],
            spare_doc=docs["spare.txt"]["id"],
            failed_doc=docs["empty.txt"]["id"],
            job=job["id"],
            spare_job=spare_job.json()["id"],
            source=_web_source(alice, "alice-vault", "alice-handbook"),
            spare_source=_web_source(alice, "alice-vault", "alice-spare-source"),
            conversation=_ask(alice, "alice-vault", ALICE_QUESTION),
            spare_conversation=_ask(alice, "alice-vault", ALICE_QUESTION),
            bob_doc=b_doc["id"],
            pdf_doc=docs["ledger.pdf"]["id"],
            pdf_chunk=_chunk_of(alice, "alice-vault", docs["ledger.pdf"]["id"]),
        )
        yield w
        for c in clients.values():
            c.close()


def _same(method: str, path: str, **kw: Any) -> Build:
    """The same request whoever sends it."""
    return lambda _w, _who: Req(method, path, kw)


def _doc(method: str, suffix: str = "", attr: str = "doc") -> Build:
    return lambda w, _who: Req(method, f"/documents/{getattr(w, attr)}{suffix}")


def _source(method: str, suffix: str = "", attr: str = "source", **kw: Any) -> Build:
    return lambda w, _who: Req(method, f"/sources/{getattr(w, attr)}{suffix}", kw)


def _rename(_w: World, who: str) -> Req:
    # Alice renames it to its own name (a no-op: the other rows keep their collection); the
    # others try to take it
    return Req("PATCH", "/collections/alice-vault", {"json": {"name": f"{who}-vault"}})


def _member(method: str) -> Build:
    def build(_w: World, who: str) -> Req:
        body = {"json": {"role": "write"}} if method == "PUT" else {}
        # anyone else tries to add themselves; Alice adds and removes erin
        user = "erin" if who in ("alice", "nobody", "forged") else who
        return Req(method, f"/collections/alice-vault/members/{user}", body)

    return build


def _chat(_w: World, who: str) -> Req:
    # Alice and dave send no question (answered at once, without the generator); the others ask
    text = " " if who in ("alice", "dave") else "What is the vault code of the Ashgrove archive?"
    body = {"model": "alice-vault", "messages": [{"role": "user", "content": text}]}
    return Req("POST", "/v1/chat/completions", {"json": body})


QUESTION = "What is the vault code of the Ashgrove archive?"

REQUESTS: dict[RouteKey, Build] = {
    ("GET", "/openapi.json"): _same("GET", "/openapi.json"),
    ("GET", "/docs"): _same("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"): _same("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"): _same("GET", "/redoc"),
    ("GET", "/health"): _same("GET", "/health"),
    ("GET", "/me"): _same("GET", "/me"),
    ("GET", "/status"): _same("GET", "/status"),
    ("GET", "/metrics"): _same("GET", "/metrics"),
    ("GET", "/audit"): _same("GET", "/audit", params={"limit": 1000}),
    ("POST", "/collections"): lambda _w, who: Req(
        "POST", "/collections", {"json": {"name": f"{who}-made"}}
    ),
    ("GET", "/collections"): _same("GET", "/collections"),
    ("GET", "/collections/{name}"): _same("GET", "/collections/alice-vault"),
    ("PATCH", "/collections/{name}"): _rename,
    ("DELETE", "/collections/{name}"): _same("DELETE", "/collections/alice-spare"),
    ("GET", "/collections/{name}/members"): _same("GET", "/collections/alice-vault/members"),
    ("PUT", "/collections/{name}/members/{user}"): _member("PUT"),
    ("DELETE", "/collections/{name}/members/{user}"): _member("DELETE"),
    # only documents failed with a code none has: queues nothing (the document row retries one)
    ("POST", "/collections/{name}/retry"): _same(
        "POST", "/collections/alice-vault/retry", json={"codes": ["no-such-code"]}
    ),
    ("POST", "/collections/{name}/lookup"): _same(
        "POST",
        "/collections/alice-vault/lookup",
        json={"sha256": [hashlib.sha256(ALICE_TEXT.encode()).hexdigest()]},
    ),
    ("POST", "/documents"): lambda _w, who: Req(
        "POST",
        "/documents",
        {
            "data": {"collection": "alice-vault"},
            "files": [("files", (f"from-{who}.txt", f"{who} was here.".encode()))],
        },
    ),
    ("GET", "/documents"): _same("GET", "/documents", params={"collection": "alice-vault"}),
    ("GET", "/documents/{document_id}"): _doc("GET"),
    ("GET", "/documents/{document_id}/chunks"): _doc("GET", "/chunks"),
    ("GET", "/documents/{document_id}/file"): _doc("GET", "/file"),
    ("POST", "/documents/{document_id}/retry"): _doc("POST", "/retry", "failed_doc"),
    ("GET", "/documents/{document_id}/pages/{page}"): _doc("GET", "/pages/2", "pdf_doc"),
    ("GET", "/chunks/{chunk_id}/boxes"): lambda w, _who: Req("GET", f"/chunks/{w.pdf_chunk}/boxes"),
    ("DELETE", "/documents/{document_id}"): _doc("DELETE", attr="spare_doc"),
    ("POST", "/jobs"): _same("POST", "/jobs", json={"collection": "alice-vault"}),
    ("GET", "/jobs/{job_id}"): lambda w, _who: Req("GET", f"/jobs/{w.job}"),
    ("POST", "/jobs/{job_id}/cancel"): lambda w, _who: Req("POST", f"/jobs/{w.spare_job}/cancel"),
    ("POST", "/search"): _same(
        "POST", "/search", json={"collection": "alice-vault", "query": QUESTION}
    ),
    ("POST", "/ask"): _same(
        "POST",
        "/ask",
        json={"collection": "alice-vault", "question": QUESTION, "filters": NO_MATCH},
    ),
    ("POST", "/v1/chat/completions"): _chat,
    ("GET", "/v1/models"): _same("GET", "/v1/models"),
    ("GET", "/conversations"): _same("GET", "/conversations"),
    ("GET", "/conversations/{conversation_id}"): lambda w, _who: Req(
        "GET", f"/conversations/{w.conversation}"
    ),
    ("DELETE", "/conversations/{conversation_id}"): lambda w, _who: Req(
        "DELETE", f"/conversations/{w.spare_conversation}"
    ),
    ("POST", "/sources"): lambda _w, who: Req(
        "POST",
        "/sources",
        {
            "json": {
                "collection": "alice-vault",
                "name": f"{who}-source",
                "kind": "web",
                "config": {"url": SOURCE_URL},
                "sync_now": False,
            }
        },
    ),
    ("GET", "/sources"): _same("GET", "/sources", params={"collection": "alice-vault"}),
    ("GET", "/sources/{source_id}"): _source("GET"),
    ("PATCH", "/sources/{source_id}"): _source("PATCH", json={"name": "alice-handbook"}),
    ("DELETE", "/sources/{source_id}"): _source("DELETE", attr="spare_source"),
    ("POST", "/sources/{source_id}/sync"): _source("POST", "/sync"),
    ("GET", "/sources/{source_id}/runs"): _source("GET", "/runs"),
}

# Each of these changes or removes the object its request names (a throw-away one of the world):
# run after the others.
DESTRUCTIVE = {
    ("DELETE", "/collections/{name}"),
    ("DELETE", "/documents/{document_id}"),
    ("DELETE", "/sources/{source_id}"),
    ("DELETE", "/conversations/{conversation_id}"),
    ("POST", "/jobs/{job_id}/cancel"),
    ("POST", "/documents/{document_id}/retry"),
}
# (a member is added before one is removed)
ORDER = sorted(ROUTES, key=lambda k: (k in DESTRUCTIVE, k[0] == "DELETE", k[1], k[0]))


def _send(w: World, who: str, key: RouteKey) -> httpx.Response:
    req = REQUESTS[key](w, who)
    return w[who].request(req.method, req.path, **req.kw)


def _expected(rule: Rule, who: str) -> int | None:
    """The status ``who`` must get (None: any success)."""
    if rule.scope == "open" or who == "admin":
        return None
    if who in ANONYMOUS:
        return 401
    if rule.scope == "self":
        return None
    if rule.scope == "admin":
        return 403
    if who == "alice":
        return None
    if who == "dave" and rule.scope not in ("conversation",):  # reads Alice's collections
        return None if rule.need == "read" else 403
    return 404


def _check(w: World, who: str, key: RouteKey) -> None:
    rule = ROUTES[key]
    r = _send(w, who, key)
    want = _expected(rule, who)
    where = (who, *key, r.status_code, r.text[:400])
    if want is None:
        assert r.status_code < 400, where
    else:
        assert r.status_code == want, where
        assert r.json()["error"]["type"] in ("unauthorized", "forbidden", "not_found"), where
    if want == 401:
        assert r.headers["www-authenticate"] == "Bearer", where
    if who in (*ATTACKERS, *ANONYMOUS):
        for secret in SECRETS:
            assert secret not in r.text, (secret, *where)
    if who in (*ATTACKERS, *ANONYMOUS) and rule.scope in ("self", "open"):
        for name in ALICE_NAMES:  # a listing of theirs names nothing of Alice's
            assert name not in r.text, (name, *where)


@pytest.mark.unit
def test_every_route_of_the_app_has_a_rule_and_a_request(tmp_path: Path) -> None:
    from api.app import create_app
    from core.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, database_url=None))
    try:  # FastAPI 0.165 keeps an included router as one entry of app.routes
        from fastapi.routing import iter_route_contexts

        routes = route_keys(iter_route_contexts(app.routes))
    except ImportError:  # before, its routes are copied in
        routes = route_keys(app.routes)
    # what /openapi.json documents is there too (a route the walk above missed would show)
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= routes
    assert sorted(routes - set(ROUTES)) == [], "routes without a rule in access_rules.ROUTES"
    assert sorted(set(ROUTES) - routes) == [], "rules for routes the app no longer has"
    assert set(REQUESTS) == set(ROUTES)


@pytest.mark.unit
def test_docs_table_is_current() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"
    assert docs.read_text() == markdown(), "run: python scripts/access_matrix.py --write"


@pytest.mark.integration
@pytest.mark.parametrize("key", ORDER, ids=lambda k: f"{k[0]} {k[1]}")
def test_route_keeps_to_its_rule(world: World, key: RouteKey) -> None:
    """Everyone without access first (so a hole shows before Alice's own call changes anything),
    then Alice, or the admin on admin routes."""
    for who in (*ANONYMOUS, *ATTACKERS, "dave"):
        _check(world, who, key)
    _check(world, "alice", key)
    if ROUTES[key].scope == "admin":
        _check(world, "admin", key)


@pytest.mark.integration
def test_listings_leave_alice_out(world: World) -> None:
    """Lists without a collection named show carol and bob nothing of Alice's."""
    for who in ATTACKERS:
        c = world[who]
        assert {x["name"] for x in c.get("/collections").json()}.isdisjoint(ALICE_NAMES)
        assert all(d["collection"] not in ALICE_NAMES for d in c.get("/documents").json())
        assert all(s["collection"] not in ALICE_NAMES for s in c.get("/sources").json())
        assert all(x["collection"] not in ALICE_NAMES for x in c.get("/conversations").json())
        for path in ("/documents", "/sources", "/conversations", "/status", "/v1/models"):
            body = c.get(path).text
            assert not any(s in body for s in (*SECRETS, *ALICE_NAMES)), (who, path, body[:400])
    # bob's own things are his to see
    assert world["bob"].get(f"/documents/{world.bob_doc}").json()["status"] == "ready"


@pytest.mark.integration
def test_alice_keeps_her_things(world: World) -> None:
    """After every attack: her document, its bytes, her collection, members and source as she
    left them."""
    alice = world["alice"]
    assert alice.get(f"/documents/{world.doc}").json()["status"] == "ready"
    r = alice.get(f"/documents/{world.doc}/file")
    assert r.status_code == 200 and r.content == ALICE_TEXT.encode()
    assert alice.get("/collections/alice-vault").json()["owner"] == "alice"
    members = alice.get("/collections/alice-vault/members").json()
    assert members == [{"user": "alice", "role": "owner"}, {"user": "dave", "role": "read"}]
    src = alice.get(f"/sources/{world.source}").json()
    assert src["name"] == "alice-handbook" and src["config"]["url"] == SOURCE_URL
    names = {
        d["name"] for d in alice.get("/documents", params={"collection": "alice-vault"}).json()
    }
    assert not any(n.startswith(("from-bob", "from-carol", "from-dave")) for n in names), names
    assert world["admin"].get("/audit", params={"limit": 1000}).status_code == 200


@pytest.mark.integration
def test_a_writer_cannot_redirect_a_source_that_holds_a_token(world: World) -> None:
    """Bob may write to alice-shared, but not change a source of Alice's that holds a token: a new
    URL would send her token to his server. A source without a token he may change."""
    alice, bob = world["alice"], world["bob"]
    assert alice.post("/collections", json={"name": "alice-shared"}).status_code == 201
    r = alice.put("/collections/alice-shared/members/bob", json={"role": "write"})
    assert r.status_code == 200, r.text
    tokened = _web_source(alice, "alice-shared", "private-wiki", token=TOKEN)
    plain = _web_source(alice, "alice-shared", "public-site")

    seen = bob.get(f"/sources/{tokened}")
    assert seen.status_code == 200 and seen.json()["has_token"] is True
    assert TOKEN not in seen.text
    stolen = {"config": {"url": "https://127.0.0.1:10/collect"}}
    for body in (stolen, {"name": "renamed"}, {"token": ""}):
        r = bob.patch(f"/sources/{tokened}", json=body)
        assert r.status_code == 403, (body, r.status_code, r.text)
        assert r.json()["error"]["type"] == "forbidden"
    after = alice.get(f"/sources/{tokened}").json()
    assert after["config"]["url"] == SOURCE_URL and after["has_token"] is True
    assert after["name"] == "private-wiki"

    r = bob.patch(f"/sources/{plain}", json={"name": "public-site-2"})
    assert r.status_code == 200, r.text
    r = alice.patch(f"/sources/{tokened}", json={"name": "private-wiki-2"})
    assert r.status_code == 200, r.text


@pytest.mark.integration
def test_page_routes_refuse_before_any_work(world: World) -> None:
    """Carol and bob asking for a page of Alice's PDF render nothing (the page cache gains no
    file), and a chunk's boxes refused name neither its document nor anything of it."""
    cache = world.stack.data_dir / "pages"

    def cached() -> set[Path]:
        return set(cache.rglob("*")) if cache.exists() else set()

    before = cached()
    for who in ATTACKERS:
        for page in (1, 2, 3):
            r = world[who].get(f"/documents/{world.pdf_doc}/pages/{page}", params={"width": 777})
            assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
        r = world[who].get(f"/chunks/{world.pdf_chunk}/boxes", params={"start": 0, "end": 5})
        assert r.status_code == 404, r.text
        assert world.pdf_doc not in r.text and "Ashgrove" not in r.text
        assert r.json()["error"]["message"] == f"no chunk {world.pdf_chunk}"
    assert cached() == before
    # a chunk that does not exist reads the same
    missing = world["carol"].get("/chunks/12345/boxes")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "no chunk 12345"
    # Alice gets her page, and her chunk's boxes on it
    page = world["alice"].get(f"/documents/{world.pdf_doc}/pages/1", params={"width": 777})
    assert page.status_code == 200 and page.content.startswith(b"\x89PNG")
    boxes = world["alice"].get(f"/chunks/{world.pdf_chunk}/boxes").json()
    assert boxes["document_id"] == world.pdf_doc and boxes["boxes"]
