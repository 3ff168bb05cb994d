"""Time to first token as askdocs' overhead: what askdocs adds before the first token over the
generator's own time for the same prompt, so the figure means the same on any machine.

    ASKDOCS_DATA_DIR=... ASKDOCS_REDIS_URL=... ASKDOCS_GENERATOR_URL=... \\
        .venv/bin/python bench/ttft.py --collection eval-qa-... --qa /tmp/sec10q-subset.csv \\
        [--limit 20] [--profile qwen2.5-coder-0.5b] [--json out.json]

Over a data dir an `askdocs eval answers` run filled and its running generator, for each question
(in this process, as `/ask` does): retrieval, the relevance gate, passage selection with the
server's tokenizer, the prompt, and the request, up to the first piece the server streams back
(``askdocs_ttft``). The very prompt askdocs sent is then sent again straight to the server's
`/v1/chat/completions` over plain HTTP, and timed to its first streamed piece (``server_ttft``:
prompt reading and the first token). Before each of the two, a short unrelated prompt clears the
server's prompt cache, so neither run reuses the other's. ``overhead = askdocs_ttft -
server_ttft``; the goal is an overhead at most 10% of the server's time (p50). Questions below the
relevance gate or refused for a term no passage mentions (no prompt), and questions whose figure
askdocs computes (their first token follows the operand step) are left out and counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Generator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from api.app import build_services  # noqa: E402
from askdocs.eval_answers import read_qa  # noqa: E402
from askdocs.eval_retrieval import percentile  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation import figures  # noqa: E402
from generation.profiles import PROFILES  # noqa: E402
from generation.rag import Token  # noqa: E402

FLUSH = [{"role": "user", "content": "Say OK."}]


def server_ttft(url: str, model: str, messages: list[dict[str, str]]) -> float:
    """Seconds from sending ``messages`` to the server's first streamed piece, over plain HTTP."""
    body = {"model": model, "messages": messages, "max_tokens": 4, "temperature": 0.0}
    t0 = time.perf_counter()
    with httpx.stream(
        "POST", url + "/chat/completions", json=body | {"stream": True}, timeout=600
    ) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data:") and '"content"' in line:
                return time.perf_counter() - t0
    return time.perf_counter() - t0


def flush(url: str, model: str) -> None:
    """A short unrelated prompt: the server's prompt cache then holds nothing of the next one."""
    httpx.post(
        url + "/chat/completions",
        json={"model": model, "messages": FLUSH, "max_tokens": 1},
        timeout=600,
    ).raise_for_status()


class Recorder:
    """Wraps the generator client's ``stream_chat``: the messages of the first request of a
    question, when it was sent and when its first piece came back."""

    def __init__(self, stream_chat) -> None:  # type: ignore[no-untyped-def]
        self.inner = stream_chat
        self.reset()

    def reset(self) -> None:
        self.messages: list[dict[str, str]] | None = None
        self.sent: float | None = None
        self.first: float | None = None

    def __call__(
        self, messages, max_tokens=384, temperature=0.0, grammar=None
    ) -> Generator[str, None, None]:  # type: ignore[no-untyped-def]
        if self.messages is None:
            self.messages, self.sent = messages, time.perf_counter()
        for piece in self.inner(
            messages, max_tokens=max_tokens, temperature=temperature, grammar=grammar
        ):
            if self.first is None:
                self.first = time.perf_counter()
            yield piece


def p50(xs: list[float]) -> float:
    return round(statistics.median(xs), 3) if xs else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collection", required=True)
    ap.add_argument("--qa", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--profile", choices=list(PROFILES))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = Settings()
    services = build_services(settings)
    services.embedder.load()
    if args.profile:
        services.answers.profile = PROFILES[args.profile]
    client = services.generator
    recorder = Recorder(client.stream_chat)
    client.stream_chat = recorder  # type: ignore[method-assign]
    url, model = settings.generator_url.rstrip("/"), client.model
    qas = [q for q in read_qa(args.qa) if q.answer.strip()]
    if args.limit:
        qas = qas[: args.limit]
    rows, gated, computed, uncovered = [], 0, 0, 0
    # one question first, untimed: the tokenizer route found, the index and the model warm
    services.answers.prepare(args.collection, qas[0].question, [])
    for qa in qas:
        if services.answers.profile.computed_figures and figures.classify(qa.question):
            computed += 1
            continue
        flush(url, model)
        recorder.reset()
        t0 = time.perf_counter()
        prepared = services.answers.prepare(args.collection, qa.question, [])
        if prepared.gated:
            gated += 1
            continue
        if prepared.missing:  # refused without the generator (generation.coverage)
            uncovered += 1
            continue
        events = services.answers.generate(prepared)
        for ev in events:
            if isinstance(ev, Token):
                break
        events.close()  # closes the stream: the server stops writing
        if recorder.messages is None or recorder.first is None or recorder.sent is None:
            continue
        askdocs = recorder.first - t0
        before_request = recorder.sent - t0
        flush(url, model)
        direct = server_ttft(url, model, recorder.messages)
        rows.append(
            {
                "question": qa.question,
                "askdocs_ttft_s": round(askdocs, 3),
                "before_request_s": round(before_request, 3),
                "server_ttft_s": round(direct, 3),
                "overhead_s": round(askdocs - direct, 3),
                "overhead_share": round((askdocs - direct) / direct, 4) if direct > 0 else 0.0,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    summary = {
        "profile": services.answers.profile.name,
        "questions_timed": len(rows),
        "gated": gated,
        "computed_left_out": computed,
        "refused_by_terms": uncovered,
        "askdocs_ttft_p50_s": p50([r["askdocs_ttft_s"] for r in rows]),
        "server_ttft_p50_s": p50([r["server_ttft_s"] for r in rows]),
        "before_request_p50_s": p50([r["before_request_s"] for r in rows]),
        "overhead_p50_s": p50([r["overhead_s"] for r in rows]),
        "overhead_p90_s": round(percentile([r["overhead_s"] for r in rows], 90), 3),
        "overhead_share_p50": p50([r["overhead_share"] for r in rows]),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
