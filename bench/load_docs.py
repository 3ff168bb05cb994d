"""Documents for bench/load.py: text, Markdown and PDF files made from a BEIR corpus (scifact),
each carrying a token of its own, so a lexical search for the token finds the document that holds
it and no other; a large PDF padded to a given size; the questions that fit the seeded documents.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

PAD_BLOCK = 1 << 20


@dataclass(frozen=True)
class Record:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class MadeFile:
    """A file the bench made: where it is, the name it is uploaded under, its own token."""

    path: Path
    name: str
    token: str


@dataclass(frozen=True)
class Corpus:
    records: list[Record]
    questions: list[str]  # questions whose relevant documents come first in ``records``
    seeded: int  # how many of ``records`` those relevant documents are


def read_corpus(folder: Path, questions: int) -> Corpus:
    """The corpus's records, those relevant to the first ``questions`` questions first."""
    records: dict[str, Record] = {}
    with (folder / "corpus.jsonl").open() as f:
        for line in f:
            d = json.loads(line)
            records[d["_id"]] = Record(d["_id"], d.get("title") or "", d["text"])
    texts: dict[str, str] = {}
    with (folder / "queries.jsonl").open() as f:
        for line in f:
            q = json.loads(line)
            texts[q["_id"]] = q["text"]
    relevant: dict[str, list[str]] = {}
    for path in sorted((folder / "qrels").glob("*.tsv")):
        for row in path.read_text().splitlines()[1:]:
            qid, did, *_ = row.split("\t")
            if qid in texts and did in records:
                relevant.setdefault(qid, []).append(did)
    chosen_q = list(relevant)[:questions]
    first = list(dict.fromkeys(d for q in chosen_q for d in relevant[q]))
    rest = [d for d in records if d not in set(first)]
    return Corpus(
        [records[d] for d in first + rest], [texts[q] for q in chosen_q], seeded=len(first)
    )


def token(run: str, kind: str, i: int) -> str:
    """A word no corpus holds: letters and digits only, so the lexical tokenizer keeps it whole."""
    return f"zq{run}{kind}{i:05d}"


def _body(record: Record, tok: str) -> str:
    return f"{record.text}\n\nReference code {tok} marks this document."


def _pdf_escape(line: str) -> str:
    text = line.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, title: str, body: str, pad_bytes: int = 0) -> None:
    """A PDF of Helvetica text pages (45 lines of 90 characters each), written by hand; with
    ``pad_bytes`` of incompressible data in an object no page uses, so the file is that much
    larger while its text stays the same."""
    lines = [title, ""]
    for para in body.split("\n"):
        lines += textwrap.wrap(para, 90) or [""]
    pages = [lines[i : i + 45] for i in range(0, len(lines), 45)] or [[""]]
    objects: list[bytes] = []  # object n is objects[n - 1]
    n_pages = len(pages)
    first_page = 4  # 1 catalog, 2 pages, 3 font, then (page, content) pairs
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, page in enumerate(pages):
        content = "BT /F1 10 Tf 50 800 Td 14 TL\n" + "".join(
            f"({_pdf_escape(line)}) Tj T*\n" for line in page
        )
        stream = content.encode("latin-1") + b"ET\n"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 3 0 R"
            f" >> >> /Contents {first_page + 2 * i + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    with path.open("wb") as f:
        f.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for n, obj in enumerate(objects, 1):
            offsets.append(f.tell())
            f.write(f"{n} 0 obj\n".encode() + obj + b"\nendobj\n")
        if pad_bytes > 0:  # an unreferenced stream object: bytes, no text
            offsets.append(f.tell())
            f.write(f"{len(objects) + 1} 0 obj\n<< /Length {pad_bytes} >>\nstream\n".encode())
            left = pad_bytes
            while left > 0:
                n = min(left, PAD_BLOCK)
                f.write(os.urandom(n))
                left -= n
            f.write(b"\nendstream\nendobj\n")
        xref = f.tell()
        f.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for off in offsets:
            f.write(f"{off:010d} 00000 n \n".encode())
        f.write(
            f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
        )


def make_files(folder: Path, records: list[Record], run: str, kind: str) -> list[MadeFile]:
    """One file per record, in turn text, Markdown and PDF, each with its own token."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, rec in enumerate(records):
        tok = token(run, kind, i)
        suffix = ("txt", "md", "pdf")[i % 3]
        name = f"{kind}-{i:05d}-{rec.doc_id}.{suffix}"
        path = folder / name
        if suffix == "txt":
            path.write_text(f"{rec.title}\n\n{_body(rec, tok)}\n")
        elif suffix == "md":
            path.write_text(f"# {rec.title}\n\n{_body(rec, tok)}\n")
        else:
            write_pdf(path, rec.title, _body(rec, tok))
        out.append(MadeFile(path, name, tok))
    return out


def make_big(folder: Path, record: Record, run: str, megabytes: int) -> MadeFile:
    """A PDF of about ``megabytes`` MiB: one record's text, the rest padding."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = token(run, "big", 0)
    name = f"big-{megabytes}mb.pdf"
    path = folder / name
    write_pdf(path, record.title, _body(record, tok), pad_bytes=megabytes * 1024 * 1024)
    return MadeFile(path, name, tok)
