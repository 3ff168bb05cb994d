"""`askdocs ingest FOLDER`: walk, hash, skip what the collection holds, upload in bounded batches
into one job, and (with ``--sync``) delete documents whose file is gone. Plain functions over the
API client, so the CLI stays a thin shell and tests call the same code."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from client.http import ApiClient

BATCH_FILES = 16
BATCH_BYTES = 128 * 1024 * 1024  # well under the API's request limit; a bigger file goes alone
LOOKUP_BATCH = 1000


@dataclass(frozen=True)
class LocalFile:
    path: Path
    name: str  # relative to the folder given (posix), or the file name: the document's name
    size: int
    sha256: str


def walk(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """(path, name) of every file under ``paths``; hidden files and folders are left out."""
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if f.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield f, rel.as_posix()
        elif p.is_file():
            yield p, p.name
        else:
            raise FileNotFoundError(p)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def batches(files: list[LocalFile]) -> list[list[LocalFile]]:
    """Upload requests of at most BATCH_FILES files and about BATCH_BYTES each."""
    out: list[list[LocalFile]] = []
    size = 0
    for f in files:
        if not out or len(out[-1]) >= BATCH_FILES or size + f.size > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(f)
        size += f.size
    return out


def known(api: ApiClient, collection: str, hashes: list[str]) -> dict[str, dict]:
    """The collection's documents with these hashes (an empty dict when it does not exist)."""
    out: dict[str, dict] = {}
    for i in range(0, len(hashes), LOOKUP_BATCH):
        out.update(api.lookup(collection, hashes[i : i + LOOKUP_BATCH]))
    return out


def upload(
    api: ApiClient,
    collection: str,
    files: list[LocalFile],
    replace: bool = True,
    on_batch: Callable[[int], None] = lambda n: None,
) -> str:
    """Upload ``files`` into one new job; returns its id."""
    job = api.create_job(collection)
    for batch in batches(files):
        api.upload_paths(collection, [(f.name, f.path) for f in batch], job, replace)
        on_batch(len(batch))
    return job


def documents(api: ApiClient, collection: str) -> list[dict]:
    """Every live document of the collection, page by page."""
    out: list[dict] = []
    while True:
        page = api.documents(collection, limit=1000, offset=len(out))
        out.extend(page)
        if len(page) < 1000:
            return out


def vanished(api: ApiClient, collection: str, names: set[str]) -> list[dict]:
    """Documents of the collection whose name is not among the walked files."""
    return not_among(documents(api, collection), names)


def not_among(docs: list[dict], names: set[str]) -> list[dict]:
    """``docs`` whose name is not in ``names``; a source's documents are its own sync's business
    and never among them."""
    return [d for d in docs if d["name"] not in names and not d.get("source_id")]
