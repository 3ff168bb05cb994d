"""Where a PDF's parse spends its time, by stage, for both text-layer readers.

    .venv/bin/python bench/pdf_profile.py FILE.pdf [FILE.pdf ...]

Runs ``ingest.parsing.parse`` in this process under cProfile (after one untimed parse that imports
and warms up the parsers), once with ``pdf_reader="unstructured"`` and once with ``"pdfium"``, and
prints seconds, pages/s and the cumulative seconds of each stage: pdfminer's layout analysis,
unstructured's element classification and its NLP (spaCy sentence and part-of-speech checks),
pdfplumber's ruled-table finder, pdfium's characters and the layout built from them, pypdf (page
count, encryption, the single pages cut out for OCR) and OCR itself. Stages nest (unstructured calls
pdfminer), so they do not add up to the total.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.parsing import parse  # noqa: E402

STAGES = {  # stage: (file part, function names) of the frames whose cumulative time counts
    "unstructured partition, in all": ("ingest/parsing.py", ("_partition",)),
    "pdfminer (text and layout)": ("pdfminer/pdfinterp.py", ("process_page",)),
    "pdfminer layout analysis": ("pdfminer/layout.py", ("analyze",)),
    "unstructured element classification": (
        "partition/text_type.py",
        ("is_possible_narrative_text", "is_possible_title"),
    ),
    "spaCy / NLP": ("nlp/tokenize.py", ("pos_tag", "sent_tokenize", "word_tokenize")),
    "pdfplumber ruled tables": ("pdfplumber/page.py", ("find_tables",)),
    "pdfium characters": ("ingest/pdf_text.py", ("_page_lines",)),
    "pdfium layout (tables, titles)": ("ingest/pdf_text.py", ("_tables", "_paragraphs")),
    "pypdf (pages, encryption)": ("ingest/pdf_pages.py", ("open_pdf",)),
    "OCR (tesseract)": ("unstructured_pytesseract/pytesseract.py", ("run_tesseract",)),
}


def stage_seconds(stats: pstats.Stats) -> dict[str, float]:
    out = dict.fromkeys(STAGES, 0.0)
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (part, names) in STAGES.items():
            if func in names and filename.endswith(part):
                out[stage] += ct
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--readers", default="unstructured,pdfium", help="comma-separated")
    args = ap.parse_args(argv)
    parse(args.files[0], args.files[0].name, pdf_reader="unstructured")  # imports, models
    for f in args.files:
        for reader in args.readers.split(","):
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            doc = parse(f, f.name, pdf_reader=reader)
            prof.disable()
            took = time.perf_counter() - t0
            pages = doc.pages or 0
            print(
                f"{f.name} [{reader}]: {pages} pages, {took:.1f} s ({pages / took:.1f} pages/s "
                f"under the profiler), {len(doc.blocks)} blocks"
            )
            for stage, secs in stage_seconds(pstats.Stats(prof)).items():
                if secs >= 0.01:
                    print(f"  {stage:32s} {secs:7.2f} s  {100 * secs / took:5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
