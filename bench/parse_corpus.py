"""Parse every file under PATH the way a worker does, and report per type.

    .venv/bin/python bench/parse_corpus.py PATH [--json out.json] [--slowest 10]
    .venv/bin/python bench/parse_corpus.py --make-samples DIR   # a 100-page text PDF, a 10-page scan

Each file, and each of its attachments (an e-mail's, a zip's files: the worker ingests them as
documents of their own), goes through the worker's own steps before embedding: size limit, the
guards, then the parse sandbox (child process, soft/hard seconds, memory and page limits from
``ASKDOCS_*`` settings), the normalisation of its text (``ingest.text``), then chunking with the
embedding model's tokenizer. The type is detected from the bytes,
not the name. Prints per type: files, ok, failed by reason code, pages/s, seconds p50/p99, chunks;
then counts by outcome, the slowest files and every failure with its message.

A file that raises anything but a readable ``IngestError`` (a bug: the worker would fail it
``internal``) is counted as ``internal`` with the exception's class and message, and the run goes
on to the next file. Exits 1 when any file ended ``internal`` or without a specific reason.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_throughput import WORDS  # noqa: E402
from core.settings import Settings  # noqa: E402
from ingest import guards, parsing, sandbox  # noqa: E402
from ingest.chunking import chunk_blocks  # noqa: E402
from ingest.errors import IngestError, TooLarge, by_code  # noqa: E402
from ingest.pipeline import MAX_NESTING, parse_limits  # noqa: E402
from ingest.text import normal_document  # noqa: E402
from ingest.types import Attachment  # noqa: E402

SPECIFIC = set(by_code())  # every failure code that names its reason
INTERNAL = "internal"  # what the worker calls a failure that is not the file's: a bug


@dataclass
class Outcome:
    path: str
    kind: str
    seconds: float
    code: str  # "ok" or an error code
    pages: int | None = None
    chunks: int = 0
    message: str = ""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_one(  # type: ignore[no-untyped-def]
    path: Path,
    root: Path,
    settings: Settings,
    count_tokens,
    attachments: list[Attachment] | None = None,
    rel: str | None = None,
) -> Outcome:
    """One file through the worker's steps; whatever it raises is its outcome, never the run's.

    :param attachments: where a document's attachments (an e-mail's, a zip's files) are added:
        the worker ingests each as a document of its own.
    :param rel: the name it is reported under (default: its path under ``root``)."""
    if rel is None:
        rel = str(path.relative_to(root)) if path != root else path.name
    started = time.perf_counter()
    kind = "unknown"
    try:
        kind = parsing.detect_kind(path)
        return _steps(path, rel, kind, started, settings, count_tokens, attachments)
    except IngestError as e:
        return Outcome(rel, kind, time.perf_counter() - started, e.code, None, 0, e.message)
    except Exception as e:  # noqa: BLE001 - a bug in a parser or a step: this file's failure
        message = f"{type(e).__name__}: {e}"[:1000]
        return Outcome(rel, kind, time.perf_counter() - started, INTERNAL, None, 0, message)


def _steps(  # type: ignore[no-untyped-def]
    path: Path,
    rel: str,
    kind: str,
    started: float,
    settings: Settings,
    count_tokens,
    attachments: list[Attachment] | None,
):
    """Size limit, guards, the parse child, the normalisation, chunking: as ``ingest.pipeline``."""
    if path.stat().st_size > settings.max_upload_bytes:
        raise TooLarge(f"{rel} is above the limit of {settings.max_upload_bytes} bytes")
    name = rel.rsplit("/", 1)[-1]  # an attachment by its own name, not its copy's
    guards.check(path, name, settings)
    parsed = normal_document(sandbox.parse_isolated(path, name, parse_limits(settings)))
    if attachments is not None:
        attachments += parsed.attachments
    seconds = time.perf_counter() - started
    if not any(b.text.strip() for b in parsed.blocks):
        return Outcome(rel, kind, seconds, "empty_document", parsed.pages, 0, "no text found")
    chunks = chunk_blocks(
        parsed.blocks, count_tokens, settings.chunk_tokens, settings.chunk_overlap
    )
    return Outcome(rel, kind, time.perf_counter() - started, "ok", parsed.pages, len(chunks))


def _with_attachments(  # type: ignore[no-untyped-def]
    path: Path, root: Path, settings: Settings, count_tokens, tmp: Path
) -> Iterator[Outcome]:
    """The file's outcome, then each of its attachments' (and theirs, ``MAX_NESTING`` deep), as
    the worker ingests them: documents of their own, named ``file/attachment``."""
    todo: list[tuple[Path, str | None, int]] = [(path, None, 0)]
    while todo:
        here, rel, depth = todo.pop(0)
        found: list[Attachment] = []
        out = run_one(here, root, settings, count_tokens, found, rel)
        yield out
        if depth + 1 >= MAX_NESTING:
            continue
        for n, att in enumerate(found):
            copy = tmp / f"{depth}-{n}-{Path(att.name).name or 'attachment'}"[:200]
            copy.write_bytes(att.data)
            todo.append((copy, f"{out.path}/{att.name}", depth + 1))


def make_samples(directory: Path) -> None:
    """A 100-page text PDF (reportlab) and a 10-page scanned PDF (page images, no text layer)."""
    from PIL import Image, ImageDraw, ImageFont
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    directory.mkdir(parents=True, exist_ok=True)
    words = WORDS
    c = canvas.Canvas(str(directory / "text-100p.pdf"), pagesize=A4)
    for page in range(100):
        c.setFont("Helvetica-Bold", 14)
        c.drawString(72, 790, f"Section {page + 1}")
        c.setFont("Helvetica", 10)
        for line in range(45):
            text = " ".join(words[(page + line + i) % len(words)] for i in range(14))
            c.drawString(72, 760 - line * 15, f"{text}.")
        c.showPage()
    c.save()
    font = ImageFont.load_default(size=28)
    pages = []
    for page in range(10):
        img = Image.new("L", (1240, 1754), "white")  # A4 at 150 dpi
        draw = ImageDraw.Draw(img)
        for line in range(30):
            text = " ".join(words[(page + line + i) % len(words)] for i in range(8))
            draw.text((100, 100 + line * 52), f"{text}.", fill="black", font=font)
        pages.append(img)
    pages[0].save(
        directory / "scanned-10p.pdf", "PDF", resolution=150, save_all=True, append_images=pages[1:]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("path", type=Path, nargs="?")
    ap.add_argument("--json", type=Path, help="write every file's outcome here")
    ap.add_argument("--slowest", type=int, default=10)
    ap.add_argument("--make-samples", type=Path, metavar="DIR")
    args = ap.parse_args(argv)
    if args.make_samples:
        make_samples(args.make_samples)
        return 0
    if args.path is None:
        ap.error("PATH is required")
    settings = Settings()
    from retrieval.embedding import Embedder

    embedder = Embedder(settings.embedding_model)
    sandbox.warm(wait=True)  # the parse server's start is not any file's time
    root = args.path
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files, 1):
            for out in _with_attachments(path, root, settings, embedder.count_tokens, Path(tmp)):
                outcomes.append(out)
                print(
                    f"[{i}/{len(files)}] {out.code:<18} {out.seconds:7.2f}s {out.kind:<8} "
                    f"{out.path}",
                    file=sys.stderr,
                    flush=True,
                )
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    print("| type | files | ok | failed (by reason) | pages | pages/s | p50 s | p99 s | chunks |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in sorted(by_kind):
        rows = by_kind[kind]
        ok = [o for o in rows if o.code == "ok"]
        failed = Counter(o.code for o in rows if o.code != "ok")
        pages = sum(o.pages or 0 for o in ok)
        secs = sum(o.seconds for o in ok)
        times = [o.seconds for o in rows]
        print(
            f"| {kind} | {len(rows)} | {len(ok)} | "
            + (", ".join(f"{c} {n}" for c, n in failed.most_common()) or "-")
            + f" | {pages} | {pages / secs if secs else 0:.1f} | {statistics.median(times):.2f} "
            f"| {_pct(times, 0.99):.2f} | {sum(o.chunks for o in ok)} |"
        )
    total = sum(o.seconds for o in outcomes)
    ok_n = sum(o.code == "ok" for o in outcomes)
    print(f"\n{len(outcomes)} files, {ok_n} parsed, {len(outcomes) - ok_n} failed, {total:.1f} s")
    by_outcome = Counter(o.code for o in outcomes)
    print("by outcome: " + ", ".join(f"{code} {n}" for code, n in sorted(by_outcome.items())))
    print(f"\nslowest {args.slowest}:")
    for o in sorted(outcomes, key=lambda o: -o.seconds)[: args.slowest]:
        print(f"  {o.seconds:7.2f}s  {o.code:<18} {o.path} ({o.pages} pages)")
    print("\nfailures:")
    for o in outcomes:
        if o.code != "ok":
            print(f"  {o.path}: {o.code}: {o.message}")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    internal = [o for o in outcomes if o.code == INTERNAL]
    unspecific = [o for o in outcomes if o.code not in ("ok", INTERNAL) and o.code not in SPECIFIC]
    if internal:
        print(f"\n{len(internal)} files ended internal (a bug, not the file)", file=sys.stderr)
    if unspecific:
        print(f"\n{len(unspecific)} files failed without a specific reason", file=sys.stderr)
    return 1 if internal or unspecific else 0


if __name__ == "__main__":
    raise SystemExit(main())
