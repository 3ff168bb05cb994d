"""The clients of bench/load.py: threads that search and ask /health at a steady pace, one that
asks questions over the /ask stream and times the first token, one that uploads a small document
now and then; every call is a sample (when it started, how long it took, what came back), and
samples are summed up per window of the run afterwards."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.load_docs import MadeFile

TIMEOUT = 120.0


@dataclass(frozen=True)
class Sample:
    t: float  # monotonic start
    op: str  # search, health, ttft, upload
    ms: float
    outcome: str  # "ok", an HTTP status, or the exception's class name


@dataclass
class Acked:
    """An upload the API acknowledged (202) and the document it made."""

    file: MadeFile
    document_id: str
    job_id: str
    kind: str


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    acked: list[Acked] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def ack(self, items: list[Acked]) -> None:
        with self.lock:
            self.acked.extend(items)


def outcome_of(call: Callable[[], httpx.Response]) -> tuple[str, httpx.Response | None]:
    try:
        r = call()
    except httpx.HTTPError as e:
        return type(e).__name__, None
    return ("ok" if r.status_code < 400 else str(r.status_code)), r


def timed(rec: Recorder, op: str, call: Callable[[], httpx.Response]) -> httpx.Response | None:
    t0 = time.monotonic()
    outcome, r = outcome_of(call)
    rec.add(Sample(t0, op, (time.monotonic() - t0) * 1000, outcome))
    return r


def upload(
    http: httpx.Client,
    rec: Recorder,
    collection: str,
    files: list[MadeFile],
    kind: str,
    job_id: str | None = None,
    op: str = "upload",
) -> str | None:
    """One upload request of ``files``; the acknowledged documents recorded; the job's id."""
    form = {"collection": collection, **({"job_id": job_id} if job_id else {})}
    handles = [f.path.open("rb") for f in files]
    try:
        parts = [
            ("files", (f.name, h, "application/octet-stream"))
            for f, h in zip(files, handles, strict=True)
        ]
        r = timed(rec, op, lambda: http.post("/documents", data=form, files=parts, timeout=900))
    finally:
        for h in handles:
            h.close()
    if r is None or r.status_code != 202:
        return None
    body = r.json()
    by_name = {d["name"]: d["id"] for d in body["documents"]}
    rec.ack([Acked(f, by_name[f.name], body["id"], kind) for f in files if f.name in by_name])
    return str(body["id"])


def first_token(http: httpx.Client, collection: str, question: str) -> tuple[str, float | None]:
    """Stream one answer to its end; ``ok`` and when the first token came, or what ended it."""
    body = {"collection": collection, "question": question}
    got, at = "no_token", None
    with http.stream("POST", "/ask", json=body, timeout=TIMEOUT) as r:
        if r.status_code >= 400:
            return str(r.status_code), None
        event = ""
        for line in r.iter_lines():  # to the end: the generator serves one answer at a time
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                if event == "token" and at is None:
                    got, at = "ok", time.monotonic()
            elif line.startswith("data:") and event == "error" and at is None:
                got = "error_event:" + str(json.loads(line[5:]).get("type", "?"))
            elif line.startswith("data:") and event == "done":
                done = json.loads(line[5:])
                if done.get("below_relevance_threshold") and at is None:
                    got = "gated"  # refused before the generator: no first token to time
                elif done.get("passages_given") == 0:
                    got = "no_passages"  # the fixed "not in the documents", not the generator
    return got, at


class Clients:
    """``searchers`` threads alternating /search and /health, one asker, one trickle uploader
    (switched on and off by the run), all until ``stop()``."""

    def __init__(
        self,
        url: str,
        key: str,
        collection: str,
        queries: list[str],
        questions: list[str],
        rec: Recorder,
    ) -> None:
        self.url, self.key, self.collection = url, key, collection
        self.queries, self.questions, self.rec = queries, questions, rec
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.trickle_on = threading.Event()
        self.trickle_files: list[MadeFile] = []

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT)

    def start(self, searchers: int, pace_s: float, ask: bool, trickle_s: float) -> None:
        for i in range(searchers):
            self._spawn(self._searcher, i, pace_s)
        if ask:
            self._spawn(self._asker)
        self._spawn(self._trickle, trickle_s)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _paced(self, pace_s: float, offset: float, step: Callable[[int], None]) -> None:
        due = time.monotonic() + offset
        n = 0
        while not self.stopping.wait(max(0.0, due - time.monotonic())):
            step(n)
            n += 1
            due = max(due + pace_s, time.monotonic())  # a late client does not catch up

    def _searcher(self, i: int, pace_s: float) -> None:
        rng = random.Random(i)
        with self.http() as http:

            def step(n: int) -> None:
                if n % 2 == 0:
                    body = {"collection": self.collection, "query": rng.choice(self.queries)}
                    timed(self.rec, "search", lambda: http.post("/search", json=body))
                else:
                    timed(self.rec, "health", lambda: http.get("/health"))

            self._paced(pace_s, pace_s * i / 4, step)

    def _asker(self) -> None:
        # in turn, never the same twice running: the generator keeps the last prompt's state,
        # and the same prompt again would skip reading it
        questions = itertools.cycle(self.questions)
        with self.http() as http:
            while not self.stopping.is_set():
                t0 = time.monotonic()
                try:
                    got, at = first_token(http, self.collection, next(questions))
                except httpx.HTTPError as e:
                    got, at = type(e).__name__, None
                ms = ((at or time.monotonic()) - t0) * 1000
                self.rec.add(Sample(t0, "ttft", ms, got))
                self.stopping.wait(1.0)

    def _trickle(self, every_s: float) -> None:
        """One small document per request while switched on (each its own index batch: enough
        of them make the indexer merge segments)."""
        with self.http() as http:
            job: str | None = None
            while not self.stopping.is_set():
                if not self.trickle_on.wait(0.5):
                    continue
                if not self.trickle_files:
                    return
                f = self.trickle_files.pop(0)
                t0 = time.monotonic()
                got = upload(http, self.rec, self.collection, [f], "trickle", job)
                job = job or got
                self.stopping.wait(max(0.0, every_s - (time.monotonic() - t0)))

    def stop(self, wait_s: float = 30.0) -> None:
        """Stop every client; one still inside a call after ``wait_s`` is left to finish alone
        (its thread is a daemon; its sample comes too late for any window)."""
        self.stopping.set()
        deadline = time.monotonic() + wait_s
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(samples: list[Sample], start: float, end: float) -> dict[str, dict[str, object]]:
    """Per operation, over the samples that started in [start, end): calls, p50/p99/max of the
    answered ones (ms), and failures by kind."""
    out: dict[str, dict[str, object]] = {}
    for op in ("health", "search", "ttft", "upload"):
        mine = [s for s in samples if s.op == op and start <= s.t < end]
        ok = [s.ms for s in mine if s.outcome == "ok"]
        out[op] = {
            "calls": len(mine),
            "p50_ms": pct(ok, 0.5),
            "p99_ms": pct(ok, 0.99),
            "max_ms": round(max(ok), 1) if ok else None,
            "errors": dict(Counter(s.outcome for s in mine if s.outcome != "ok")),
        }
    return out
