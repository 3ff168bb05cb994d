"""A large collection made directly (random unit vectors, Zipf-distributed words), for the benches
that need one: catalog rows of ready documents, the lexical index, and the vectors as one segment
recorded in the collection's manifest, as the indexer would leave them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from retrieval.index_store import collection_dir, generation_lock
from retrieval.lexical_index import LexicalDoc, LexicalIndex
from retrieval.segments import Manifest, write_segment

PER_DOC = 1000
WORDS = 30_000


def vocab(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(WORDS)]


def zipf_words(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.2, size=n), WORDS) - 1
    return [words[r] for r in ranks]


def build(
    catalog: Catalog,
    index_dir: Path,
    collection: str,
    chunks: int,
    model: str,
    dim: int,
    hnsw_threshold: int,
    segments: int = 1,
    seed: int = 0,
) -> None:
    """``chunks`` chunks in documents of PER_DOC, their vectors in ``segments`` segments."""
    rng = np.random.default_rng(seed)
    words = vocab(rng)
    directory = collection_dir(index_dir, collection)
    lexical = LexicalIndex(directory, writable=True)
    all_ids, all_vecs, all_docs = [], [], []
    t0 = time.monotonic()
    for d in range(chunks // PER_DOC):
        doc_id = f"{collection}-{d}".encode().hex().ljust(64, "0")[:64]
        ids = rng.integers(1, 1 << 62, size=PER_DOC, dtype=np.int64)
        vecs = rng.normal(size=(PER_DOC, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = [" ".join(zipf_words(rng, words, 40)) for _ in range(PER_DOC)]
        with catalog.session() as s:
            if d == 0:
                s.add(Collection(id=collection, embedding_model=model, embedding_dim=dim))
            s.add(
                Document(
                    id=doc_id,
                    collection_id=collection,
                    name=f"doc{d}.txt",
                    size_bytes=0,
                    status=DocStatus.ready,
                    chunk_count=PER_DOC,
                    embedded_with=model,
                )
            )
            s.flush()
            s.execute(
                insert(Chunk),
                [
                    {
                        "id": int(i),
                        "document_id": doc_id,
                        "ordinal": o,
                        "text": t,
                        "page": 1,
                        "vector": v.tobytes(),
                    }
                    for o, (i, t, v) in enumerate(zip(ids, texts, vecs, strict=True))
                ],
            )
        lexical.replace_document(
            doc_id,
            [LexicalDoc(int(i), doc_id, t, f"doc {d}") for i, t in zip(ids, texts, strict=True)],
        )
        all_ids.append(ids)
        all_vecs.append(vecs)
        all_docs += [doc_id] * PER_DOC
    del lexical  # releases tantivy's writer lock for the indexer
    print(f"catalog + lexical: {time.monotonic() - t0:.0f} s", flush=True)
    t1 = time.monotonic()
    ids, vecs = np.concatenate(all_ids), np.concatenate(all_vecs)
    entries = []
    for part in np.array_split(np.arange(len(ids)), segments):
        docs = [all_docs[i] for i in part]
        entries.append(write_segment(directory, ids[part], vecs[part], docs, dim, hnsw_threshold))
    manifest = Manifest(model, tuple(entries))
    with generation_lock(index_dir, collection, exclusive=True), catalog.session() as s:
        coll = s.get(Collection, collection)
        coll.segments = manifest.to_json()
        coll.index_generation += 1
    kinds = sorted({e.kind for e in entries})
    print(f"vectors ({len(entries)} segments, {kinds}): {time.monotonic() - t1:.0f} s", flush=True)
