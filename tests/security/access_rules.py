"""Who may use each route of the API: one rule per (method, path template) of the app.

tests/security/test_access_matrix.py runs every rule against the real stack and fails when a route of
``create_app(settings).routes`` has no rule here; scripts/access_matrix.py renders the same table as
docs/access-matrix.md. Plain data: importing this module loads nothing of the app.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["open", "self", "collection", "document", "job", "source", "conversation", "admin"]
Need = Literal["none", "key", "read", "write", "manage", "admin"]
RouteKey = tuple[str, str]

# Methods Starlette adds by itself next to GET; not routes of their own.
IMPLIED_METHODS = frozenset({"HEAD"})


@dataclass(frozen=True)
class Rule:
    """What a caller needs to use one route.

    :param scope: what the route acts on: ``open`` (nothing, no key), ``self`` (the caller's own
        listing or a new object of theirs), a ``collection`` (named in the path, query, form or
        body), a ``document``, ``job`` or ``source`` (by id, through its collection), a
        ``conversation`` (its own user only) or the whole service (``admin``).
    :param need: the role needed in that collection: read, write or manage (its owner); ``key``
        for any valid key, ``none`` for no key, ``admin`` for an admin user.
    :param note: what else the route's contract says about access.
    """

    scope: Scope
    need: Need
    note: str = ""


def _r(scope: Scope, need: Need, note: str = "") -> Rule:
    return Rule(scope, need, note)


OPEN = _r("open", "none")

ROUTES: dict[RouteKey, Rule] = {
    # FastAPI's own pages: the API's shape, no data
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    ("GET", "/redoc"): OPEN,
    ("GET", "/health"): _r("open", "none", "whether each dependency answers; no document data"),
    ("GET", "/me"): _r("self", "key"),
    ("GET", "/status"): _r("self", "key", "counts of the collections the caller may read"),
    ("GET", "/metrics"): _r(
        "admin", "admin", "open to all with ASKDOCS_METRICS_PUBLIC (a private Prometheus)"
    ),
    ("GET", "/audit"): _r("admin", "admin"),
    # collections
    ("POST", "/collections"): _r("self", "key", "the new collection is the caller's"),
    ("GET", "/collections"): _r("self", "key", "lists only the collections the caller may read"),
    ("GET", "/collections/{name}"): _r("collection", "read"),
    ("PATCH", "/collections/{name}"): _r("collection", "manage", "rename"),
    ("DELETE", "/collections/{name}"): _r("collection", "manage"),
    ("GET", "/collections/{name}/members"): _r("collection", "read"),
    ("PUT", "/collections/{name}/members/{user}"): _r("collection", "manage"),
    ("DELETE", "/collections/{name}/members/{user}"): _r("collection", "manage"),
    ("POST", "/collections/{name}/retry"): _r("collection", "write"),
    ("POST", "/collections/{name}/lookup"): _r("collection", "read"),
    # documents and jobs
    ("POST", "/documents"): _r(
        "collection", "write", "a collection that does not exist yet is made, the caller's"
    ),
    ("GET", "/documents"): _r(
        "collection", "read", "without `collection`: the documents of every collection readable"
    ),
    ("GET", "/documents/{document_id}"): _r("document", "read"),
    ("GET", "/documents/{document_id}/chunks"): _r("document", "read"),
    ("GET", "/documents/{document_id}/file"): _r("document", "read"),
    ("POST", "/documents/{document_id}/retry"): _r("document", "write"),
    ("DELETE", "/documents/{document_id}"): _r("document", "write"),
    ("GET", "/documents/{document_id}/pages/{page}"): _r(
        "document", "read", "checked before any rendering; PDFs, and office files via LibreOffice"
    ),
    ("GET", "/chunks/{chunk_id}/boxes"): _r(
        "document",
        "read",
        "the chunk's document's collection; a chunk the caller may not see is a 404 as a "
        "missing one, its document not named",
    ),
    ("POST", "/jobs"): _r(
        "collection", "write", "a collection that does not exist yet is made, the caller's"
    ),
    ("GET", "/jobs/{job_id}"): _r("job", "read"),
    ("POST", "/jobs/{job_id}/cancel"): _r("job", "write"),
    # questions
    ("POST", "/search"): _r("collection", "read"),
    ("POST", "/ask"): _r(
        "collection", "read", "a follow-up continues the caller's own conversation"
    ),
    ("POST", "/v1/chat/completions"): _r("collection", "read", "`model` names the collection"),
    ("GET", "/v1/models"): _r("self", "key", "the collections the caller may read"),
    ("GET", "/conversations"): _r("self", "key", "the caller's own conversations"),
    ("GET", "/conversations/{conversation_id}"): _r(
        "conversation", "read", "its own user only, admins included"
    ),
    ("DELETE", "/conversations/{conversation_id}"): _r(
        "conversation", "write", "its own user only, admins included"
    ),
    # sources
    ("POST", "/sources"): _r(
        "collection",
        "write",
        "a folder or server repository: admins, or where ASKDOCS_SOURCES_FOLDER_ROOTS grants "
        "its directory to the collection (an admin's) or the user; a URL's host must be "
        "allowed (ASKDOCS_SOURCES_ALLOWED_HOSTS), for admins too",
    ),
    ("GET", "/sources"): _r(
        "collection", "read", "without `collection`: the sources of every collection readable"
    ),
    ("GET", "/sources/{source_id}"): _r("source", "read", "a token is never shown"),
    ("PATCH", "/sources/{source_id}"): _r(
        "source",
        "write",
        "a source that holds a token, or a folder's or server repository's config: its owner "
        "or an admin only",
    ),
    ("DELETE", "/sources/{source_id}"): _r("source", "write"),
    ("POST", "/sources/{source_id}/sync"): _r(
        "source", "write", "`confirm_deletions=true` carries out what the last held run held"
    ),
    ("GET", "/sources/{source_id}/runs"): _r("source", "read"),
}


def route_keys(routes: Iterable[object]) -> set[RouteKey]:
    """(method, path template) of each HTTP route of an app's ``routes`` (Starlette routes)."""
    keys: set[RouteKey] = set()
    for route in routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        keys |= {(m, path) for m in methods if m not in IMPLIED_METHODS}
    return keys


_WHERE = {
    "collection": "the collection",
    "document": "the document's collection",
    "job": "the job's collection",
    "source": "the source's collection",
}
_ROLE = {
    "read": "a reader, writer or owner of {where}, or an admin",
    "write": "a writer or owner of {where}, or an admin",
    "manage": "the owner of {where}, or an admin",
}


def who_may(rule: Rule) -> str:
    """The rule in words, as the docs table says it."""
    if rule.scope == "open":
        return "anyone, without a key"
    if rule.scope == "self":
        return "any valid key"
    if rule.scope == "admin":
        return "an admin"
    if rule.scope == "conversation":
        return "the user who asked it"
    return _ROLE[rule.need].format(where=_WHERE[rule.scope])


def _refused(rule: Rule) -> str:
    if rule.scope == "open":
        return "-"
    if rule.scope == "self":
        return "401"
    if rule.scope == "admin":
        return "401, 403"
    if rule.scope == "conversation" or rule.need == "read":
        return "401, 404"
    return "401, 404, 403"


HEADER = """# Access matrix

Generated by `python scripts/access_matrix.py --write` from `tests/security/access_rules.py`, the
table `tests/security/test_access_matrix.py` runs against the real stack (every route of the app
must have a row). Do not edit by hand.

Refusals: **401** without a valid key (with `WWW-Authenticate: Bearer`); **404** for a collection,
document, job, source or conversation the caller may not see, exactly as for one that does not
exist; **403** for one the caller may read but not change (a reader writing, a writer managing),
and for an ordinary user on an admin route.
"""


def markdown() -> str:
    """docs/access-matrix.md: the header and one row per route, by path then method."""
    rows = [
        "| method | route | who may use it | refused with | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (method, path), rule in sorted(ROUTES.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rows.append(f"| {method} | `{path}` | {who_may(rule)} | {_refused(rule)} | {rule.note} |")
    return HEADER + "\n" + "\n".join(rows) + "\n"
