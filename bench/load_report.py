"""What bench/load.py prints: every document's token searched (found once, lost, failed, or
duplicated) and the one table of the run."""

from __future__ import annotations

import time
from collections import Counter

import httpx

from bench.load_clients import Acked
from bench.load_docs import MadeFile

# what a client may meet while a process restarts, and try again: the API's 503, or a connection
# refused or dropped
RETRYABLE = frozenset({"503", "ConnectError", "RemoteProtocolError", "ReadError"})
# an answer given without the generator (refused at the relevance gate, no passages): no first
# token to time, and no failure either
NOT_TIMED = frozenset({"gated", "no_passages"})


def holders(http: httpx.Client, collection: str, token: str) -> set[str] | None:
    """Ids of the documents whose passages hold ``token`` (a lexical search); None when the
    search itself kept failing."""
    body = {"collection": collection, "query": token, "mode": "lexical", "k": 20}
    for _ in range(5):
        try:
            r = http.post("/search", json=body)
            if r.status_code == 200:
                passages = r.json()["passages"]
                return {p["document_id"] for p in passages if token in p["text"].lower()}
        except httpx.HTTPError:
            pass
        time.sleep(1.0)  # a search that failed is tried again, a few times
    return None


def _status(http: httpx.Client, document_id: str | None, collection: str, name: str) -> str:
    try:
        if document_id:
            r = http.get(f"/documents/{document_id}")
            if r.status_code == 404:
                return "missing"
            d = r.json()
        else:
            found = http.get("/documents", params={"collection": collection, "name": name})
            docs = [d for d in found.json() if d["name"].endswith(name)]
            if not docs:
                return "missing"
            d = docs[0]
    except (httpx.HTTPError, ValueError):
        return "unknown"
    return f"failed:{d['error_code']}" if d["status"] == "failed" else str(d["status"])


def count(
    http: httpx.Client, collection: str, items: list[tuple[MadeFile, str | None]]
) -> dict[str, object]:
    """``items``: (file, the document id the API gave it, if any)."""
    once = duplicated = lost = unsearchable = 0
    failed: Counter[str] = Counter()
    lost_detail: list[str] = []
    for f, doc_id in items:
        found = holders(http, collection, f.token)
        if found is None:
            unsearchable += 1
        elif len(found) == 1:
            once += 1
        elif len(found) > 1:
            duplicated += 1
            lost_detail.append(f"{f.name}: in {len(found)} documents")
        else:
            status = _status(http, doc_id, collection, f.name)
            if status.startswith("failed:"):
                failed[status.split(":", 1)[1]] += 1
            else:
                lost += 1
                lost_detail.append(f"{f.name}: {status}")
    return {
        "total": len(items),
        "once": once,
        "lost": lost,
        "duplicated": duplicated,
        "failed": dict(failed),
        "search_failed": unsearchable,
        "detail": lost_detail[:10],
    }


def exactly_once(
    http: httpx.Client, collection: str, acked: list[Acked], synced: list[MadeFile]
) -> dict[str, object]:
    """Every acknowledged upload and every synced file: searchable exactly once?"""
    by_kind: dict[str, list[tuple[MadeFile, str | None]]] = {}
    for a in acked:
        by_kind.setdefault(a.kind, []).append((a.file, a.document_id))
    out = {kind: count(http, collection, items) for kind, items in sorted(by_kind.items())}
    out["sync"] = count(http, collection, [(f, None) for f in synced])
    return out


def _p(window: dict[str, dict[str, object]], op: str, scale: float = 1.0) -> str:
    got = window[op]
    if got["p50_ms"] is None:
        return f"- (n={got['calls']})"
    p50, p99, top = (float(got[k]) / scale for k in ("p50_ms", "p99_ms", "max_ms"))  # type: ignore[arg-type]
    fmt = "{:.1f}" if scale > 1 else "{:.0f}"
    return f"{fmt.format(p50)} / {fmt.format(p99)} / {fmt.format(top)} (n={got['calls']})"


def _errors(window: dict[str, dict[str, object]]) -> str:
    parts = []
    for op in ("health", "search", "ttft", "upload"):
        errs = window[op]["errors"]
        if errs:
            parts.append(f"{op}: " + ", ".join(f"{k}x{v}" for k, v in sorted(errs.items())))  # type: ignore[union-attr]
    return "; ".join(parts) or "none"


def table(r: dict) -> str:  # type: ignore[type-arg]
    w = ("idle", "load", "fault")
    lines = [
        f"askdocs load bench: {r['repo']}",
        "windows (s): " + ", ".join(f"{k} {v}" for k, v in r["windows_s"].items()),
        "",
        "| measure | idle | load | fault |",
        "| --- | --- | --- | --- |",
        "| /health p50 / p99 / max ms | " + " | ".join(_p(r[x], "health") for x in w) + " |",
        "| /search p50 / p99 / max ms | " + " | ".join(_p(r[x], "search") for x in w) + " |",
        "| /ask first token p50 / p99 / max s | "
        + " | ".join(_p(r[x], "ttft", 1000) for x in w)
        + " |",
        "| one-document uploads p50 / p99 / max ms | "
        + " | ".join(_p(r[x], "upload") for x in w)
        + " |",
        "| failed (or untimed) calls by kind | " + " | ".join(_errors(r[x]) for x in w) + " |",
        "",
    ]
    other: Counter[str] = Counter()
    for op in ("health", "search", "ttft", "upload"):
        for kind, n in r["fault"][op]["errors"].items():
            if kind not in RETRYABLE | NOT_TIMED:
                other[f"{op} {kind}"] += n
    lines.append(
        "fault window, failures other than 503 or a dropped connection: "
        + (", ".join(f"{k} x{v}" for k, v in sorted(other.items())) or "0")
    )
    idle_p99, load_p99 = r["idle"]["search"]["p99_ms"], r["load"]["search"]["p99_ms"]
    ratio = round(load_p99 / idle_p99, 2) if idle_p99 and load_p99 else None
    big = r["big_upload"]
    lines += [
        f"/health p99 under load: {r['load']['health']['p99_ms']} ms, max "
        f"{r['load']['health']['max_ms']} ms (goal: p99 <= 100 ms)",
        f"/search p99 under load / idle: {ratio} (goal <= 3)",
        f"big upload: {big.get('mb')} MiB, acknowledged {big.get('acknowledged')} in "
        f"{big.get('seconds')} s; API RSS {big.get('api_rss_before_mb')} -> peak "
        f"{big.get('api_rss_peak_mb')} MB, growth {big.get('api_rss_growth_mb')} MB",
        f"ingest uploads (16 files each): {r['batch_uploads']}",
        "kills: "
        + (
            "; ".join(
                f"{x['role']} (pid {x['pid']}): {x['outcome']} after {x['seconds']:.1f} s"
                + (f" [{x['detail']}]" if x["detail"] else "")
                for x in r["recoveries"]
            )
            or "none"
        ),
        f"segment merges during the run: {r['merges_during_run']}",
        f"folder sync run: {r['sync_run']}",
        f"jobs not done at the end of the wait: {r['jobs_unfinished']}",
        f"askdocs check: exit {r['check']['exit']}: {'; '.join(r['check']['lines']) or '-'}",
        "",
        "| documents | total | once | lost | duplicated | failed (code) | search failed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, c in r["exactly_once"].items():
        failed = ", ".join(f"{k} {v}" for k, v in c["failed"].items()) or "0"
        lines.append(
            f"| {kind} | {c['total']} | {c['once']} | {c['lost']} | {c['duplicated']} | "
            f"{failed} | {c['search_failed']} |"
        )
    for kind, c in r["exactly_once"].items():
        for d in c["detail"]:
            lines.append(f"  {kind}: {d}")
    return "\n".join(lines)
