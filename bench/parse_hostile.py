"""How long the text parsers take on hostile plain text and Markdown, and which of those files the
worker would parse in its own process (``ingest.parsing.in_process_kind``) rather than in the child.

    .venv/bin/python bench/parse_hostile.py [--bytes 16384 65536] [--limit 16384]

Each case is a file of about that many bytes built to hit a known super-linear path (a run of
blanks in one line, a word of trailing punctuation, Markdown link openers, ...). The parse runs here,
in this process, with no time limit (the child would stop it at ``ASKDOCS_PARSE_SOFT_SECONDS``);
``route`` says where the worker would parse it with ``--limit`` as its in-process limit
(``ingest.parsing.PARSE_IN_PROCESS_BYTES``).
What the in-process route must keep small is the worst ``seconds`` among its rows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ingest import parsing

CASES: dict[str, Callable[[int], str]] = {
    "prose.txt": lambda n: ("The ferry leaves the pier at nine and returns at six. " * n)[:n],
    "one_word.txt": lambda n: "a" * n,
    "blank_run.txt": lambda n: " " * (n - 2) + "a\n",
    "tab_run.txt": lambda n: "\t " * (n // 2 - 1) + "a\n",
    "nbsp_run.txt": lambda n: "\u00a0" * (n // 2 - 1) + "a\n",
    "commas.txt": lambda n: "," * n,
    "parens.txt": lambda n: "(" * n,
    "word_then_parens.txt": lambda n: "a" * (n // 2) + ")" * (n // 2),
    "short_paragraphs_of_parens.txt": lambda n: ("a" * 100 + ")" * 99 + "\n\n") * (n // 201),
    "bullets.txt": lambda n: "- x\n" * (n // 4),
    "caps_paragraphs.txt": lambda n: "ABC DEF GHI\n\n" * (n // 13),
    "urls.txt": lambda n: "http://a.b/" * (n // 11),
    "newlines.txt": lambda n: "\n" * (n - 1) + "a",
    "form_feeds.txt": lambda n: "\f" * n,
    "link_openers.md": lambda n: "[a](" * (n // 4),
    "headings.md": lambda n: "# h\n" * (n // 4),
    "quotes.md": lambda n: ">" * n,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", type=int, nargs="+", default=[16 * 1024, 64 * 1024])
    ap.add_argument("--limit", type=int, default=16 * 1024, help="in-process size limit")
    ap.add_argument(
        "--skip-over",
        type=float,
        default=30.0,
        help="skip a case at a bigger size "
        "once it took this many seconds (its time grows with the square)",
    )
    args = ap.parse_args()
    parsing.warm()
    slow: set[str] = set()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sorted(args.bytes):
            for name, make in CASES.items():
                if name in slow:
                    rows.append({"case": name, "bytes": size, "skipped": True})
                    continue
                path = Path(tmp) / name
                path.write_text(make(size), encoding="utf-8")
                route = "in-process" if parsing.in_process_kind(path, args.limit) else "child"
                started = time.perf_counter()
                try:
                    blocks: int | str = len(parsing.parse(path, name, ocr=False).blocks)
                except Exception as e:  # noqa: BLE001 - reported, as the worker would
                    blocks = type(e).__name__
                took = time.perf_counter() - started
                if took > args.skip_over:
                    slow.add(name)
                row = {"case": name, "bytes": path.stat().st_size, "route": route}
                rows.append(row | {"seconds": round(took, 3), "blocks": blocks})
                print(json.dumps(rows[-1]), flush=True)
    worst = max((r["seconds"] for r in rows if r.get("route") == "in-process"), default=0.0)
    print(json.dumps({"limit": args.limit, "worst_in_process_seconds": worst}))


if __name__ == "__main__":
    main()
