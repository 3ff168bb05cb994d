"""What the PDF table finder costs and finds, on a folder of PDFs.

    .venv/bin/python bench/pdf_tables.py PATH [--limit N]

Parses every PDF twice with the real parser (``ingest.parsing.parse``, in this process): without the
table finder and with it. Prints per file: pages, seconds without and with tables, tables found, and
how well rows line up (body rows with the table's most common number of non-empty cells),
then the totals and one table as it goes to the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.parsing import parse  # noqa: E402


def aligned(table: str) -> tuple[int, int]:
    """(rows with the table's most common number of non-empty cells, rows), header and separator
    excluded: a row that lost or gained a cell against its neighbours does not count."""
    rows = table.split("\n")[2:]
    filled = [sum(1 for c in ln.strip("|").split(" | ") if c.strip()) for ln in rows]
    if not filled:
        return 0, 0
    modal = Counter(filled).most_common(1)[0][0]
    return sum(n == modal for n in filled), len(filled)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="only the first N PDFs")
    args = ap.parse_args(argv)
    files = sorted(args.path.rglob("*.pdf"))[: args.limit or None]
    parse(files[0], files[0].name, pdf_tables=False)  # imports and model loads off the clock
    total = Counter()
    example = ""
    print("| file | pages | s without | s with | tables | rows aligned |")
    print("|---|---|---|---|---|---|")
    for f in files:
        t0 = time.perf_counter()
        plain = parse(f, f.name, pdf_tables=False)
        t1 = time.perf_counter()
        doc = parse(f, f.name, pdf_tables=True)
        t2 = time.perf_counter()
        tables = [b.text for b in doc.blocks if b.kind == "table"]
        ok = sum(aligned(t)[0] for t in tables)
        rows = sum(aligned(t)[1] for t in tables)
        if not example and tables:
            example = max(tables[:5], key=len)
        total.update(pages=plain.pages or 0, plain=t1 - t0, tables=t2 - t1)
        total.update(found=len(tables), ok=ok, rows=rows)
        print(
            f"| {f.name} | {plain.pages} | {t1 - t0:.1f} | {t2 - t1:.1f} | {len(tables)} | "
            f"{ok}/{rows} |"
        )
    pages = total["pages"]
    print(
        f"\n{len(files)} PDFs, {pages} pages: without tables {total['plain']:.1f} s "
        f"({pages / total['plain']:.1f} pages/s), with tables {total['tables']:.1f} s "
        f"({pages / total['tables']:.1f} pages/s); {total['found']} tables, "
        f"{total['ok']}/{total['rows']} rows aligned ({total['ok'] / max(total['rows'], 1):.1%})"
    )
    print("\nexample table as the model reads it:\n" + example[:1500])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
