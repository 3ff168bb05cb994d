"""Time to first token of the embedded generator against prompt size and threads, on real prompts.

    .venv/bin/python bench/ttft.py --corpus ../shared/data/scifact [--threads 1 2] \\
        [--budgets 1536 1024 768 512] [--questions 8]

Starts the embedded llama.cpp server with the packaged model (nothing else runs), builds askdocs'
own prompts (``generation.prompt.build_messages``) from BEIR passages: for each question, its
relevant documents first, then others, fitted to each passage budget with the server's tokenizer,
with and without ``focus`` (sentences that bear on the question), and prints, per thread count and
budget: prompt tokens and time to first token, p50 and p90. The rate it prints (prompt tokens per
second) is what ``ASKDOCS_TTFT_TARGET_SECONDS`` learns at run time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.supervisor import free_port, http_ok  # noqa: E402
from generation.client import GeneratorClient  # noqa: E402
from generation.embedded_server import server_command  # noqa: E402
from generation.focus import focus  # noqa: E402
from generation.prompt import approx_tokens, build_messages, select_passages  # noqa: E402
from retrieval.types import ScoredChunk  # noqa: E402


def load(corpus: Path, n: int) -> list[tuple[str, list[ScoredChunk]]]:
    docs = {}
    with (corpus / "corpus.jsonl").open() as f:
        for line in f:
            d = json.loads(line)
            docs[d["_id"]] = d
    qrels: dict[str, list[str]] = {}
    for path in sorted((corpus / "qrels").glob("*.tsv")):
        for i, line in enumerate(path.read_text().splitlines()):
            if i == 0:
                continue
            qid, did, *_ = line.split("\t")
            qrels.setdefault(qid, []).append(did)
    queries = {}
    with (corpus / "queries.jsonl").open() as f:
        for line in f:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    fillers = list(docs.values())[:50]
    out = []
    for qid, dids in list(qrels.items())[:n]:
        chosen = [docs[d] for d in dids if d in docs] + fillers
        passages = [
            ScoredChunk(i, d["_id"], f"{d['_id']}.txt", "c", d["text"], None, d["title"], 1.0)
            for i, d in enumerate(chosen[:8])
        ]
        out.append((queries[qid], passages))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="threads that read the prompt and write the answer (--n_threads and "
        "--n_threads_batch; a --server-args variant may set either again)",
    )
    ap.add_argument("--budgets", type=int, nargs="+", default=[1536, 1024, 768, 512])
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument(
        "--server-args",
        action="append",
        default=None,
        metavar="ARGS",
        help="extra llama_cpp.server arguments, one variant per use (e.g. '--flash_attn True'); "
        "default: one variant, none",
    )
    ap.add_argument("--no-focus", action="store_true", help="only without focus")
    args = ap.parse_args()
    items = load(args.corpus, args.questions)
    models = Path(tempfile.gettempdir()) / "askdocs-bench-models"
    rows = []
    variants = [(threads, extra) for threads in args.threads for extra in args.server_args or [""]]
    for threads, extra in variants:
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1"
        proc = subprocess.Popen(
            server_command(None, url, models, threads=threads, n_ctx=4096)
            + ["--n_threads_batch", str(threads)]  # the last of an argument wins
            + extra.split(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not http_ok(url + "/models")():
                if proc.poll() is not None:
                    raise SystemExit("the generator did not start")
                time.sleep(0.5)
            client = GeneratorClient(url, timeout=300)
            count = client.token_counter(approx_tokens)
            list(client.stream_chat([{"role": "user", "content": "Hello"}], max_tokens=2))
            for focused in (False,) if args.no_focus else (False, True):
                for budget in args.budgets:
                    ttfts, tokens = [], []
                    for question, passages in items:
                        if focused:
                            passages = [replace(p, text=focus(p.text, question)) for p in passages]
                        used = select_passages(passages, budget, count)
                        messages = build_messages(question, used)
                        tokens.append(count(messages[-1]["content"]))
                        t0 = time.monotonic()
                        for _piece in client.stream_chat(messages, max_tokens=1):
                            break
                        ttfts.append(time.monotonic() - t0)
                    row = {
                        "threads": threads,
                        "server_args": extra or "-",
                        "focus": focused,
                        "budget": budget,
                        "prompt_tokens_p50": int(statistics.median(tokens)),
                        "ttft_p50_s": round(statistics.median(ttfts), 2),
                        "ttft_max_s": round(max(ttfts), 2),
                        "prompt_tokens_per_s": round(sum(tokens) / sum(ttfts), 1),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
