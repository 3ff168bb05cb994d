"""What skipping unstructured's needless spaCy runs saves, and that it changes no block.

    .venv/bin/python bench/parse_nlp.py ../shared/data/example-docs [--beir ../shared/data/scifact]

Parses every text-like file under the paths (text, Markdown, HTML, reStructuredText, Org, mail,
Word, PowerPoint, Excel, ...; and, with ``--beir``, the first ``--beir-n`` abstracts of a BEIR
corpus written as Markdown files, as ``askdocs eval retrieval`` uploads them) in this process, twice:
with unstructured's own narrative-text classifier, then with ``ingest.parsing.skip_needless_nlp``.
Prints the CPU seconds of each pass and the files whose blocks differ (there should be none).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest import parsing
from ingest.errors import IngestError

SUFFIXES = {
    "txt", "text", "md", "markdown", "html", "htm", "rst", "org", "eml", "msg", "epub", "json",
    "xml", "rtf", "docx", "pptx", "xlsx", "odt",
}  # fmt: skip


def text_like(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        items = sorted(path.rglob("*")) if path.is_dir() else [path]
        found += [p for p in items if p.is_file() and p.suffix.lstrip(".").lower() in SUFFIXES]
    return found


def beir_markdown(beir: Path, n: int, folder: Path) -> list[Path]:
    out = []
    with (beir / "corpus.jsonl").open() as f:
        for line, _ in zip(f, range(n), strict=False):
            doc = json.loads(line)
            path = folder / f"{doc['_id']}.md"
            path.write_text(f"# {doc.get('title', '')}\n\n{doc['text']}\n")
            out.append(path)
    return out


def blocks(path: Path) -> Any:
    try:
        return [(b.text, b.kind, b.page, b.depth) for b in parsing.parse(path, path.name).blocks]
    except IngestError as e:
        return f"{e.code}: {e.message}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--beir", type=Path, help="A BEIR corpus folder (corpus.jsonl).")
    ap.add_argument("--beir-n", type=int, default=300)
    args = ap.parse_args()
    parsing._unstructured()  # imports, and installs the shortcut
    from unstructured.partition import docx, pptx, text, text_type, xlsx
    from unstructured.partition.html import parser as html_parser

    modules = (text, html_parser, docx, pptx, xlsx)
    shortcut = [m.is_possible_narrative_text for m in modules]
    with tempfile.TemporaryDirectory() as tmp:
        files = text_like(args.paths)
        if args.beir:
            files += beir_markdown(args.beir, args.beir_n, Path(tmp))
        if not files:
            ap.error("no text-like files found")

        def run(classifiers: list[Any]) -> tuple[list[Any], float]:
            for module, classify in zip(modules, classifiers, strict=True):
                module.is_possible_narrative_text = classify
            t = time.process_time()
            got = [blocks(f) for f in files]
            return got, time.process_time() - t

        plain = [text_type.is_possible_narrative_text] * len(modules)
        run(plain)  # first use: spaCy's model, the parsers' imports
        before, before_s = run(plain)
        after, after_s = run(shortcut)
    differ = [str(f) for f, a, b in zip(files, before, after, strict=True) if a != b]
    print(
        json.dumps(
            {
                "files": len(files),
                "cpu_s_unstructured_classifier": round(before_s, 1),
                "cpu_s_needless_nlp_skipped": round(after_s, 1),
                "speedup": round(before_s / max(after_s, 1e-9), 2),
                "files_with_other_blocks": differ,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
