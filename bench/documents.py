"""Chunk shape and evidence in the top passages, askdocs next to the plainest pipeline a user could
pick instead (LlamaIndex's defaults), on the same documents and machine.

    .venv/bin/python bench/documents.py ../shared/data/sec-10q --qa ../shared/data/sec-10q/qna_data.csv

askdocs: its own `askdocs up` (no generator) ingests the documents as one job through the API with
the default settings (pages/s from the first upload to the last document done); the chunks are read
from its catalog; every question is searched with `POST /search` (k=5) in hybrid and dense mode.
The peer, in this process: pypdf's page text with LlamaIndex's PDFReader metadata (file name, page
label), LlamaIndex's ``SentenceSplitter`` (256 tokens, 32 overlap), each node embedded as LlamaIndex
embeds it (metadata lines, then text) by the same MiniLM model in batches of 10 (HuggingFaceEmbedding's
default) on every core, top-5 by cosine; its pages/s counts reading, splitting and embedding. LlamaIndex is a bench-only extra
(`bash scripts/install.sh test,bench`; a bare pip install pulls a torchvision that breaks torch's imports); ``--no-peer`` skips it.

Printed per pipeline:
- chunks, chunks per page, share under 200 characters, median characters, chunks of one short line
  without a figure (a heading alone, a stray line);
- figure rows: lines of a chunk that hold a figure (a number of 3+ digits or a decimal), and the
  share of them that carry their label (words) on the same line: a statement row kept whole;
- evidence@5: the share of questions whose top 5 passages hold the gold answer's figures (any one of
  them), or, for an answer without figures, at least half of its key words (words of 4+ letters
  that are not in the question and not common words);
- per mode, the mean number of distinct documents among the top 5, and the share of questions
  whose first passage comes from a document the question is about (the QA file's ``Source Docs``
  column: file-name patterns such as ``*2023 Q3 AAPL*``);
- pages/s.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from askdocs import bulk  # noqa: E402
from bench.stack import running_stack  # noqa: E402

K = 5
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+")
COMMON = frozenset(
    """about above after again against also among an and another answer any are based because been
    before being below between both but can compared could does doing down during each either else
    from further given had has have having here how however including into its itself just made make
    more most much must none only other over same should since some such than that their them then
    there these they this those through under until upon very was were what when where which while
    will with within without would your documents document provided information source sources
    company companys period periods reported report quarter quarterly specific details mentioned
    following total""".split()  # noqa: SIM905
)


def figures(text: str) -> set[str]:
    """Numbers of 3+ digits (not a bare year) or with a decimal part, without "$" and commas."""
    out = set()
    for m in _NUMBER.finditer(text):
        raw = m.group().rstrip(".,")
        value = raw.replace(",", "")
        digits = sum(ch.isdigit() for ch in value)
        is_year = re.fullmatch(r"(19|20)\d\d", value) is not None
        if ("." in value and digits >= 2) or (digits >= 3 and not is_year):
            out.add(value)
    return out


def key_words(answer: str, question: str) -> set[str]:
    asked = {w.lower() for w in _WORD.findall(question)}
    return {
        w.lower()
        for w in _WORD.findall(answer)
        if len(w) >= 4 and w.lower() not in COMMON and w.lower() not in asked
    }


def gold_answer(answer: str) -> str:
    """The answer without its SOURCE(S) lines."""
    return re.split(r"SOURCE\(S\)|\(SOURCE", answer)[0]


def has_evidence(question: str, answer: str, passages: Sequence[str]) -> bool:
    text = "\n".join(passages)
    gold = gold_answer(answer)
    wanted = figures(gold)
    if wanted:
        return bool(wanted & figures(text))
    words = key_words(gold, question)
    if not words:
        return False
    found = {w.lower() for w in _WORD.findall(text)}
    return len(words & found) >= 0.5 * len(words)


def shape(chunks: Sequence[str], pages: int) -> dict[str, float]:
    lengths = [len(c) for c in chunks]
    fig_lines = labelled = 0
    for c in chunks:
        for line in c.split("\n"):
            if figures(line):
                fig_lines += 1
                # a label: two words of letters on the line besides the figures
                labelled += len(_WORD.findall(line)) >= 2
    one_line = sum(1 for c in chunks if "\n" not in c.strip() and len(c) < 100 and not figures(c))
    return {
        "chunks": len(chunks),
        "chunks_per_page": round(len(chunks) / max(pages, 1), 2),
        "share_under_200_chars": round(sum(n < 200 for n in lengths) / max(len(lengths), 1), 3),
        "median_chars": statistics.median(lengths) if lengths else 0,
        "one_line_chunks": one_line,
        "figure_lines": fig_lines,
        "figure_lines_with_label": round(labelled / max(fig_lines, 1), 3),
    }


def read_qa(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8-sig") as f:
        return [(r["Question"], r["Answer"]) for r in csv.DictReader(f)]


def read_about(path: Path) -> list[list[str]]:
    """Per question, the file-name patterns of the documents it is about (the ``Source Docs``
    column, comma-separated, e.g. ``*2023 Q3 AAPL*``); empty lists where the file has none."""
    with path.open(encoding="utf-8-sig") as f:
        return [
            [p.strip() for p in (r.get("Source Docs") or "").split(",") if p.strip()]
            for r in csv.DictReader(f)
        ]


def documents(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.rglob(pattern) if p.is_file())


def run_askdocs(
    files: list[Path],
    qa: list[tuple[str, str]],
    reuse: Path | None,
    settings: dict[str, str],
    tuning: dict[str, object] | None = None,
    abouts: list[list[str]] | None = None,
    collection: str = "bench",
) -> dict[str, object]:
    """Ingest ``files`` into a fresh stack (or search the one ingested before in ``reuse``, with
    ``settings`` changed) and measure it."""
    abouts = abouts or [[] for _ in qa]
    data = reuse or Path(tempfile.mkdtemp(prefix="askdocs-documents-"))
    if reuse is not None:
        settings = {"auth": "false", **settings}
    took = 0.0
    with running_stack(data, **settings) as http:
        if reuse is None:
            local = [
                bulk.LocalFile(p, p.name, p.stat().st_size, bulk.sha256_file(p)) for p in files
            ]
            t0 = time.monotonic()
            job_id = bulk.upload(http, collection, local)
            while not http.job(job_id)["done"]:
                time.sleep(0.5)
            took = time.monotonic() - t0
        hits: dict[str, int] = {}
        spread: dict[str, dict[str, float]] = {}
        for mode in ("hybrid", "dense", "lexical"):
            hits[mode] = 0
            docs_seen = first_right = 0
            for (question, answer), about in zip(qa, abouts, strict=True):
                found = http.search(
                    {
                        "collection": collection,
                        "query": question,
                        "k": K,
                        "mode": mode,
                        "tuning": tuning or None,
                    }
                )
                passages = [f"{p.get('heading') or ''}\n{p['text']}" for p in found["passages"]]
                hits[mode] += has_evidence(question, answer, passages)
                docs_seen += len({p["document_id"] for p in found["passages"]})
                if found["passages"] and about:
                    name = found["passages"][0]["document_name"]
                    first_right += any(fnmatch.fnmatch(name, pat) for pat in about)
            spread[mode] = {
                "docs_in_top5": round(docs_seen / len(qa), 2),
                "first_from_its_document": round(first_right / len(qa), 3),
            }
    db = sqlite3.connect(data / "catalog.db")
    docs = db.execute("SELECT name, status, error_code, pages FROM documents").fetchall()
    pages = sum(p or 0 for _, status, _, p in docs if status == "ready")
    chunks = [t for (t,) in db.execute("SELECT text FROM chunks ORDER BY document_id, ordinal")]
    return {
        "pipeline": "askdocs"
        + "".join(f" {k}={v}" for k, v in {**settings, **(tuning or {})}.items()),
        "documents": len(docs),
        "failed": {name: code for name, status, code, _ in docs if status == "failed"},
        "pages": pages,
        **shape(chunks, pages),
        "evidence_at_5_hybrid": round(hits["hybrid"] / len(qa), 3),
        "evidence_at_5_dense": round(hits["dense"] / len(qa), 3),
        "evidence_at_5_lexical": round(hits["lexical"] / len(qa), 3),
        **{f"{k}_{mode}": v for mode, d in spread.items() for k, v in d.items()},
        "seconds": round(took, 1) if took else "-",
        "pages_per_s": round(pages / took, 2) if took else "-",
        "data_dir": str(data),
    }


def run_peer(files: list[Path], qa: list[tuple[str, str]]) -> dict[str, object]:
    try:
        from llama_index.core import Document
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.schema import MetadataMode
    except ImportError:
        raise SystemExit("the peer needs LlamaIndex: bash scripts/install.sh test,bench") from None
    from pypdf import PdfReader

    from core.settings import Settings
    from ingest.pdf_pages import pdf_limits
    from retrieval.embedding import Embedder

    # LlamaIndex's HuggingFaceEmbedding: sentence-transformers, batches of 10, every core
    embedder = Embedder(Settings().embedding_model, batch_size=10).load()
    embedder.embed(["warm up"])
    t0 = time.monotonic()
    docs, pages = [], 0
    for p in files:
        with pdf_limits():  # pypdf's default array limit refuses two of the sec-10q reports
            reader = PdfReader(str(p))
            for i, page in enumerate(reader.pages, 1):  # what its PDFReader gives: a page each
                meta = {"page_label": str(i), "file_name": p.name}
                docs.append(Document(text=page.extract_text(), metadata=meta))
            pages += len(reader.pages)
    nodes = SentenceSplitter(chunk_size=256, chunk_overlap=32).get_nodes_from_documents(docs)
    texts = [n.get_content() for n in nodes]
    # embedded as LlamaIndex embeds a node: its metadata lines, then its text
    vectors = embedder.embed([n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
    took = time.monotonic() - t0
    hits = 0
    for question, answer in qa:
        scores = vectors @ embedder.embed_query(question)
        top = np.argsort(-scores)[:K]
        hits += has_evidence(question, answer, [texts[i] for i in top])
    return {
        "pipeline": "llamaindex-defaults",
        "documents": len(files),
        "pages": pages,
        **shape(texts, pages),
        "evidence_at_5_dense": round(hits / len(qa), 3),
        "seconds": round(took, 1),
        "pages_per_s": round(pages / took, 2),
    }


def table(rows: Iterable[dict[str, object]]) -> str:
    rows = list(rows)
    keys = [k for k in rows[0] if k not in ("failed", "data_dir")]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "-")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path, help="a folder of documents")
    ap.add_argument("--qa", type=Path, required=True, help="CSV with Question and Answer columns")
    ap.add_argument("--glob", default="*.pdf", help="which files of the folder (default *.pdf)")
    ap.add_argument("--no-peer", action="store_true", help="askdocs only")
    ap.add_argument("--no-askdocs", action="store_true", help="the peer only")
    ap.add_argument(
        "--reuse", type=Path, help="search the data dir of an earlier run again (no ingest)"
    )
    ap.add_argument("--collection", default="bench", help="the collection (with --reuse)")
    ap.add_argument(
        "--tuning", default="{}", help='per-search overrides, JSON, e.g. {"dense_weight": 0.6}'
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for askdocs (e.g. fusion=minmax), ASKDOCS_ prefix left out",
    )
    args = ap.parse_args(argv)
    files = documents(args.path, args.glob)
    qa = read_qa(args.qa)
    print(f"{len(files)} documents, {len(qa)} questions", flush=True)
    results = []
    if not args.no_askdocs:
        settings = dict(kv.split("=", 1) for kv in args.set)
        results.append(
            run_askdocs(
                files,
                qa,
                args.reuse,
                settings,
                json.loads(args.tuning),
                read_about(args.qa),
                args.collection,
            )
        )
        print(json.dumps(results[-1], indent=2), flush=True)
    if not args.no_peer:
        results.append(run_peer(files, qa))
        print(json.dumps(results[-1], indent=2), flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
