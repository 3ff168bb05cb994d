"""What a figures grammar (``generation.grammar``) costs per generated token, on the packaged
generator in this process: no grammar, the grammar checked against the whole vocabulary (what
llama-cpp-python does), and against the likeliest tokens only (what askdocs' server wrapper,
``generation.llama_server``, makes it do). The prompt is a filing's two tables and a request to
write their figures out, so most tokens are figures or sit next to them; it is read once before
the timed runs, so the times are generation only. Also says whether the two grammar runs wrote
the same text (greedy decoding: they should).

    .venv/bin/python bench/grammar_speed.py --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llama_cpp  # noqa: E402

from bench.generators import SEGMENT_TABLE, TABLE  # noqa: E402
from generation import grammar  # noqa: E402
from generation.llama_server import GRAMMAR_TOP_K, grammar_after_top_k  # noqa: E402
from generation.models import PACKAGED, QWEN_05B, resolve  # noqa: E402

ASK = (
    "Write one line for each segment with its net sales in both quarters, then the total net "
    "sales and the operating income of both quarters."
)


def timed(model: llama_cpp.Llama, messages: list, rules: str | None, tokens: int) -> tuple:
    """(seconds, tokens written, text) of one greedy answer."""
    t0 = time.perf_counter()
    out = model.create_chat_completion(
        messages,
        max_tokens=tokens,
        temperature=0,
        grammar=llama_cpp.LlamaGrammar.from_string(rules) if rules else None,
    )
    took = time.perf_counter() - t0
    return took, out["usage"]["completion_tokens"], out["choices"][0]["message"]["content"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=list(PACKAGED), default=QWEN_05B.name)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=120)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--top-k", type=int, default=GRAMMAR_TOP_K, help="tokens the grammar is checked against"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        path = resolve(PACKAGED[args.model], Path(cache))
        model = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=args.threads, verbose=False)
        messages = [{"role": "user", "content": f"{TABLE}\n\n{SEGMENT_TABLE}\n\n{ASK}"}]
        rules = grammar.copy_grammar(
            grammar.passage_figures([TABLE, SEGMENT_TABLE], also=("0 1 2 3 4 5 6 7 8 9",)), 2
        )
        timed(model, messages, None, 4)  # reads the prompt; the runs below reuse it
        runs: dict[str, list[float]] = {}
        texts: dict[str, str] = {}
        for name, use in (("no grammar", None), ("grammar, whole vocabulary", rules)):
            for _ in range(args.repeat):
                took, n, texts[name] = timed(model, messages, use, args.tokens)
                runs.setdefault(name, []).append(1000 * took / max(n, 1))
        grammar_after_top_k(args.top_k)
        name = f"grammar, {args.top_k} likeliest tokens"
        for _ in range(args.repeat):
            took, n, texts[name] = timed(model, messages, rules, args.tokens)
            runs.setdefault(name, []).append(1000 * took / max(n, 1))
        model.close()
    print(f"{args.model}, {args.threads} threads, {args.tokens} tokens, {args.repeat} runs each")
    print("| sampling | ms per token (median) |\n| --- | --- |")
    for name, ms in runs.items():
        print(f"| {name} | {statistics.median(ms):.1f} |")
    full, top = texts["grammar, whole vocabulary"], texts[name]
    print(
        f"same text with the grammar over the whole vocabulary and the likeliest tokens: {full == top}"
    )
    print(f"text: {top[:300]!r}")


if __name__ == "__main__":
    main()
