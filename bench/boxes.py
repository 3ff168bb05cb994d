"""How well a chunk's stored boxes mark its words on the page, and what keeping them costs.

    .venv/bin/python bench/boxes.py /work/shared/data/sec-10q [--files N] [--chunks 100]

For every PDF (or the first N, sorted by name): read it with the PDF reader ingestion uses (pdfium,
ruled tables from pdfplumber) and chunk it with the ingestion settings' budget and the embedding
model's tokenizer, twice: with positions kept and without (the reader's word and row boxes left
out, so the chunker merges nothing); alternating, best of ``--repeat``.

- **coverage** over ``--chunks`` chunks drawn at random (seed 7): the page's words (pdfium's own,
  read again apart from ingestion) whose centre lies in one of the chunk's boxes are the
  highlighted words. *recall*: share of the chunk's words (``\\w+`` tokens of its text) found among
  the highlighted words' tokens; *precision*: share of highlighted words whose tokens all occur in
  the chunk's text.
- **catalog**: a SQLite catalog (the real schema) holding every chunk as ingestion writes it (text,
  page fields, a float32 vector of the model's width) with and without ``boxes``.
- **ingest time**: CPU seconds of this process (the machine may be shared: wall time would time
  the neighbours) to parse + chunk (+ the JSON of the boxes), with and without positions, in
  alternating order; the embedding, which does not change, is timed once with ``--embed`` for the
  share of a whole ingest.
- **render**: a 100-page PDF made of the folder's pages; page 50 rendered cold (empty cache, the
  file not opened before) as ``GET /documents/{id}/pages/50?width=900`` does, then warm.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core.settings import Settings  # noqa: E402
from ingest import pdf_text  # noqa: E402
from ingest.chunking import chunk_blocks  # noqa: E402
from ingest.pdf_tables import find_tables  # noqa: E402
from ingest.pipeline import boxes_json  # noqa: E402
from ingest.types import ChunkDraft  # noqa: E402

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def ingest(path: Path, count: Callable[[str], int], settings: Settings) -> list[ChunkDraft]:
    """Parse and chunk as ingestion does (the pdfium reader, ruled tables), boxes as kept."""
    text = pdf_text.read(path, ruled=lambda pages: find_tables(path, pages))
    drafts = chunk_blocks(text.blocks, count, settings.chunk_tokens, settings.chunk_overlap)
    for d in drafts:
        boxes_json(d.boxes)
    return drafts


class NoPositions:
    """Within: the PDF reader keeps no word or row boxes (how ingestion ran before it did)."""

    def __enter__(self) -> None:
        self.saved = (pdf_text.Line.spans, pdf_text._row_spans)
        pdf_text.Line.spans = lambda self, offset: []  # type: ignore[method-assign]
        pdf_text._row_spans = lambda text, header, rows: ()  # type: ignore[assignment]

    def __exit__(self, *_exc: object) -> None:
        pdf_text.Line.spans, pdf_text._row_spans = self.saved  # type: ignore[method-assign]


def page_words(path: Path) -> dict[int, list[tuple[str, tuple[float, float, float, float]]]]:
    """Every page's words with their boxes, as pdfium reads them."""
    _count, pages = pdf_text.read_lines(path)
    return {
        i: [(w.text, (w.x0, w.top, w.x1, w.bottom)) for ln in lines for w in ln.words]
        for i, lines in enumerate(pages, 1)
    }


def coverage(
    draft: ChunkDraft, words: dict[int, list[tuple[str, tuple[float, float, float, float]]]]
) -> tuple[float, float, int]:
    """(recall, precision, highlighted words) of one chunk's boxes."""
    lit: list[str] = []
    for page, rects in draft.boxes.items():
        for text, (x0, top, x1, bottom) in words.get(page, []):
            x, y = (x0 + x1) / 2, (top + bottom) / 2
            if any(r[0] - 1 <= x <= r[2] + 1 and r[1] - 1 <= y <= r[3] + 1 for r in rects):
                lit.append(text)
    lit_tokens = {t for w in lit for t in tokens(w)}
    own = tokens(draft.text)
    own_set = set(own)
    recall = sum(t in lit_tokens for t in own) / max(len(own), 1)
    mine = [w for w in lit if tokens(w) and all(t in own_set for t in tokens(w))]
    precision = len(mine) / max(len([w for w in lit if tokens(w)]), 1)
    return recall, precision, len(lit)


def _fill(catalog, rows: list[tuple[str, ChunkDraft]], dim: int, with_boxes: bool) -> None:  # type: ignore[no-untyped-def]
    """The chunks as ingestion writes them, with random vectors of the model's width."""
    from sqlalchemy import insert

    from core.catalog import Chunk, Document
    from ingest.pipeline import chunk_row

    rng = np.random.default_rng(0)
    with catalog.session() as s:
        catalog.ensure_collection(s, "bench")
        for doc in sorted({d for d, _ in rows}):
            s.add(Document(id=doc, collection_id="bench", name=doc, size_bytes=0, status="ready"))
        s.flush()
        values = []
        for doc, d in rows:  # the row ingestion writes, with or without the boxes
            row = chunk_row(doc, d, rng.standard_normal(dim).astype(np.float32))
            values.append(row if with_boxes else {**row, "boxes": None})
        s.execute(insert(Chunk), values)


def sqlite_bytes(rows: list[tuple[str, ChunkDraft]], dim: int, with_boxes: bool) -> int:
    """Size of a SQLite catalog file (the real schema) holding these chunks."""
    from core.catalog import Catalog

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "catalog.db"
        catalog = Catalog(f"sqlite:///{db}").create()
        _fill(catalog, rows, dim, with_boxes)
        catalog.engine.dispose()
        return db.stat().st_size


def postgres_bytes(
    admin: str, rows: list[tuple[str, ChunkDraft]], dim: int, with_boxes: bool
) -> int:
    """pg_total_relation_size of the chunks table (TOAST and indexes in) of a fresh database."""
    import uuid

    import psycopg
    from sqlalchemy import text

    from core.catalog import Catalog

    name = f"bench_boxes_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        catalog = Catalog(f"{base}/{name}").create()
        _fill(catalog, rows, dim, with_boxes)
        with catalog.engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE chunks"))
            size = int(c.execute(text("SELECT pg_total_relation_size('chunks')")).scalar_one())
        catalog.engine.dispose()
        return size
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def render_cold(files: list[Path], width: int) -> tuple[float, float, int]:
    """(cold, warm) seconds to render page 50 of a 100-page PDF made of ``files``' pages."""
    import pypdfium2 as pdfium

    from api.page_images import PageCache, PageImages

    with tempfile.TemporaryDirectory() as tmp:
        big = pdfium.PdfDocument.new()
        for f in files:
            src = pdfium.PdfDocument(str(f))
            take = min(len(src), 100 - len(big))
            big.import_pages(src, list(range(take)))
            src.close()
            if len(big) >= 100:
                break
        pages = len(big)
        out = Path(tmp) / "hundred.pdf"
        big.save(str(out))
        big.close()
        images = PageImages(PageCache(Path(tmp) / "pages", 256 * 1024 * 1024), 2000)
        t0 = time.perf_counter()
        cold = images.render(out, "hundred.pdf", "0" * 64, 50, width)
        t1 = time.perf_counter()
        warm = images.render(out, "hundred.pdf", "0" * 64, 50, width)
        t2 = time.perf_counter()
        assert not cold.cached and warm.cached
        return t1 - t0, t2 - t1, pages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("--files", type=int, default=0, help="only the first N PDFs (by name)")
    ap.add_argument("--chunks", type=int, default=100, help="chunks drawn for coverage")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each way, best kept")
    ap.add_argument("--embed", action="store_true", help="also time embedding the chunks")
    ap.add_argument("--width", type=int, default=900, help="page image width for the render")
    ap.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an admin URL of a PostgreSQL server to measure the catalog on too ('' to skip)",
    )
    args = ap.parse_args(argv)
    settings = Settings()
    from retrieval.embedding import Embedder

    embedder = Embedder(settings.embedding_model)
    count = embedder.count_tokens
    files = sorted(args.path.rglob("*.pdf"))[: args.files or None]
    ingest(files[0], count, settings)  # imports and the tokenizer's load off the clock
    with_s = without_s = 0.0
    rows: list[tuple[str, ChunkDraft]] = []
    plain_rows: list[tuple[str, ChunkDraft]] = []
    words: dict[str, dict] = {}
    for f in files:
        best_with = best_without = float("inf")
        for i in range(args.repeat):
            for kept in (True, False) if i % 2 == 0 else (False, True):
                t0 = time.process_time()
                if kept:
                    drafts = ingest(f, count, settings)
                    best_with = min(best_with, time.process_time() - t0)
                else:
                    with NoPositions():
                        plain = ingest(f, count, settings)
                    best_without = min(best_without, time.process_time() - t0)
        with_s += best_with
        without_s += best_without
        rows += [(f.name, d) for d in drafts]
        plain_rows += [(f.name, d) for d in plain]
        words[f.name] = page_words(f)
        print(
            f"{f.name}: {len(drafts)} chunks, {best_with:.2f} CPU s with boxes, "
            f"{best_without:.2f} without",
            file=sys.stderr,
            flush=True,
        )
    paged = [(n, d) for n, d in rows if d.page is not None]
    boxed = [(n, d) for n, d in paged if d.boxes]
    sample = random.Random(7).sample(boxed, min(args.chunks, len(boxed)))
    scores = [coverage(d, words[n]) for n, d in sample]
    recall = statistics.mean(s[0] for s in scores)
    precision = statistics.mean(s[1] for s in scores)
    dim = embedder.dim
    size_with = sqlite_bytes(rows, dim, True)
    size_without = sqlite_bytes(plain_rows, dim, False)
    pg_with = pg_without = None
    if args.postgres:
        pg_with = postgres_bytes(args.postgres, rows, dim, True)
        pg_without = postgres_bytes(args.postgres, plain_rows, dim, False)
    row_bytes = [len(d.text.encode()) + 4 * dim for _, d in plain_rows]
    json_bytes = [len(boxes_json(d.boxes) or "") for _, d in rows]
    embed_s = None
    if args.embed:
        t0 = time.process_time()
        texts = [d.text for _, d in rows]
        for i in range(0, len(texts), 64):
            embedder.embed(texts[i : i + 64])
        embed_s = time.process_time() - t0
    cold, warm, pages = render_cold(sorted(args.path.rglob("*.pdf")), args.width)
    out = {
        "files": len(files),
        "chunks": len(rows),
        "chunks_with_pages": len(paged),
        "chunks_with_boxes": len(boxed),
        "sampled": len(sample),
        "recall_mean": round(recall, 4),
        "recall_min": round(min(s[0] for s in scores), 4),
        "precision_mean": round(precision, 4),
        "precision_min": round(min(s[1] for s in scores), 4),
        "chunks_recall_ge_0.98": sum(s[0] >= 0.98 for s in scores),
        "chunks_precision_ge_0.9": sum(s[1] >= 0.9 for s in scores),
        "boxes_json_bytes_mean": round(statistics.mean(json_bytes), 1),
        "boxes_share_of_text_and_vector_bytes": round(sum(json_bytes) / sum(row_bytes), 4),
        "sqlite_bytes_with": size_with,
        "sqlite_bytes_without": size_without,
        "sqlite_growth": round(size_with / size_without - 1, 4),
        "postgres_bytes_with": pg_with,
        "postgres_bytes_without": pg_without,
        "postgres_growth": None if not pg_with else round(pg_with / pg_without - 1, 4),
        "parse_chunk_s_with": round(with_s, 2),
        "parse_chunk_s_without": round(without_s, 2),
        "parse_chunk_growth": round(with_s / without_s - 1, 4),
        "embed_s": None if embed_s is None else round(embed_s, 2),
        "ingest_growth": (
            None if embed_s is None else round((with_s + embed_s) / (without_s + embed_s) - 1, 4)
        ),
        "render_pdf_pages": pages,
        "render_cold_s": round(cold, 3),
        "render_warm_s": round(warm, 4),
        "render_width": args.width,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
