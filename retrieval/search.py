"""Retrieval: dense (FAISS) and lexical (BM25) candidates, fused, then kept only if the catalog says
their document is ready in this collection."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import select

from core import metrics
from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from core.text import normal
from retrieval import doc_fields, model_profiles
from retrieval.embedding import Embedder, Reranker, model_label, passage_text
from retrieval.fusion import minmax, minmax_by_document, minmax_passages, rrf, spread
from retrieval.index_store import CollectionIndexes, IndexCache, IndexSummary
from retrieval.query_encoders import EncoderUnavailable, QueryEncoders
from retrieval.segments import SearchThreads
from retrieval.types import ScoredChunk

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "lexical"]
# Searches of one query when the indexer keeps committing new generations meanwhile.
SEARCH_ATTEMPTS = 4


@dataclass(frozen=True)
class SearchConfig:
    """How a search runs. The weights are constants chosen by measurement (``bench/fusion_tune.py``,
    leave-one-set-out over the dev sets; docs/search.md has the table), not settings: an operator
    cannot tune them without judged questions. ``POST /search``'s ``tuning`` overrides them per
    request for such measurements."""

    mode: Mode = "hybrid"
    # passages: min-max per passage with a document prior (the default); minmax_doc: the document
    # first, its passages after (all top k from one document, often the wrong report); minmax:
    # per passage alone; rrf: reciprocal rank.
    fusion: Literal["rrf", "minmax", "minmax_doc", "passages"] = "passages"
    rrf_k: float = 60.0
    # dense weight of a document's score (each side's best passage, MaxP)
    dense_weight: float = 0.45
    # minmax_doc: weight of a chunk's own score beside its document's
    chunk_weight: float = 0.01
    # dense weight of a passage's own score: BM25 helps choose the document, the model the passage
    chunk_dense_weight: float = 0.9
    # passages: share of a passage's score that is its document's: the document is chosen first,
    # mostly, but a passage's own score orders passages across documents of near scores
    document_share: float = 0.95
    # passages: weight of the document prior (issuer and period the question names, in [-1, 1]):
    # strong, so that the named report's passages lead and the per-document cap below does not bind
    prior_weight: float = 1.0
    # at most this many of the k passages from one document, unless its next passage beats every
    # other document's by more than spread_margin (0: no cap)
    per_document: int = 2
    spread_margin: float = 0.3
    dense_depth: int = 100
    lexical_depth: int = 100
    # BM25 weight of the title field (the document's label from its file name); sec-10q hybrid
    # evidence@5 28.2% / 30.3% / 32.3% / 31.3% for 0 / 1 / 2 / 4 (2026-11, minmax_doc)
    title_boost: float = 2.0
    # BM25: a query term in more than this share of chunks only adds to the score of chunks that
    # match a rarer term (Lucene's common-terms query: same scores, fewer postings)
    common_df: float = 0.05
    ef_search: int = 128
    rerank: bool = False
    rerank_depth: int = 30


def fuse(
    cfg: SearchConfig,
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    document_of: dict[int, str],
    priors: dict[str, float],
) -> list[tuple[int, float]]:
    """The hybrid list of ``cfg.fusion`` (pure: ``bench/fusion_tune.py`` replays it on saved runs)."""
    weights = [cfg.dense_weight, 1.0 - cfg.dense_weight]
    if cfg.fusion == "minmax":
        return minmax([dense, lexical], weights)
    if cfg.fusion == "minmax_doc":
        own = [cfg.chunk_dense_weight, 1.0 - cfg.chunk_dense_weight]
        return minmax_by_document([dense, lexical], weights, document_of, cfg.chunk_weight, own)
    if cfg.fusion == "passages":
        own = [cfg.chunk_dense_weight, 1.0 - cfg.chunk_dense_weight]
        return minmax_passages(
            [dense, lexical],
            weights,
            document_of,
            cfg.document_share,
            priors,
            cfg.prior_weight,
            own,
        )
    return rrf([[i for i, _ in dense], [i for i, _ in lexical]], cfg.rrf_k)


class NoReranker(ValueError):
    """A search asked for reranking on a server without a cross-encoder."""


class Retriever:
    def __init__(
        self,
        catalog: Catalog,
        embedder: Embedder,
        indexes: IndexCache,
        config: SearchConfig | None = None,
        reranker: Reranker | None = None,
        segment_threads: int | None = None,
        encoders: QueryEncoders | None = None,
    ) -> None:
        """:param encoders: the query encoders by model (default: ``embedder``'s, others loaded
        on first use with the default backoff)."""
        self._catalog = catalog
        self._embedder = embedder
        self._indexes = indexes
        self.config = config or SearchConfig()
        self.reranker = reranker
        # A collection still served by the index of an earlier model (while it is re-embedded)
        # gets its queries embedded by that model.
        self.encoders = encoders or QueryEncoders(embedder)
        # the lexical side of hybrid searches, beside the dense side of the calling thread
        self._side = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")
        # threads that search some of a collection's vector segments beside the calling thread
        self._segment_threads = SearchThreads.make(segment_threads)

    def indexes(self, collection: str) -> CollectionIndexes:
        """The collection's indexes as searches see them now."""
        return self._indexes.get(collection)

    def index_summary(self, collection: str) -> IndexSummary:
        """What the collection's indexes hold, for status pages (not counted as a read)."""
        return self._indexes.summary(collection)

    def embedder_for(self, model: str) -> Embedder | None:
        """The query encoder of ``model``; None while that model cannot be loaded here (its
        directory unreadable or gone): the dense side of such a collection is off, and the load
        is tried again with backoff (``QueryEncoders``)."""
        return self.encoders.get(model)

    def _allowed_chunks(self, document_ids: list[str]) -> np.ndarray:
        with self._catalog.reader() as s:
            ids = s.scalars(select(Chunk.id).where(Chunk.document_id.in_(document_ids))).all()
        return np.array(ids, dtype=np.int64)

    def candidates(
        self,
        collection: str,
        query: str,
        mode: Mode | None = None,
        document_ids: list[str] | None = None,
        config: SearchConfig | None = None,
        indexes: CollectionIndexes | None = None,
        k: int | None = None,
    ) -> list[tuple[int, float]]:
        """Fused (chunk id, score) candidates, best first, before the catalog check; with ``k``,
        hybrid's first ``k`` hold at most ``per_document`` of one document unless it is
        overwhelming (``retrieval.fusion.spread``: the chunk -> document map is at hand here, so
        the catalog check then reads only the first candidates)."""
        cfg = config or self.config
        mode = mode or cfg.mode
        query = normal(query)
        idx = indexes or self._indexes.get(collection)
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        encoder = self.embedder_for(idx.model) if mode in ("dense", "hybrid") else None
        if mode == "dense" and encoder is None:
            mode = "lexical"  # the model of this collection's vectors is not available here
        pending: Future[list[tuple[int, float]]] | None = None
        if mode in ("lexical", "hybrid"):
            args = (query, cfg.lexical_depth, cfg.title_boost, document_ids, cfg.common_df)
            if encoder is not None:  # BM25 runs while the query is embedded (both free the GIL)
                pending = self._side.submit(idx.lexical.search, *args)
            else:
                lexical = idx.lexical.search(*args)
        if encoder is not None:
            allowed = self._allowed_chunks(document_ids) if document_ids is not None else None
            dense = idx.vectors.search(
                encoder.embed_query(query),
                cfg.dense_depth,
                allowed,
                cfg.ef_search,
                self._segment_threads,
            )
        if pending is not None:
            lexical = pending.result()
        if mode == "dense":
            return dense
        if mode == "lexical":
            return lexical
        if cfg.fusion in ("minmax", "rrf"):
            return fuse(cfg, dense, lexical, {}, {})
        document_of = idx.vectors.document_of({i for i, _ in dense} | {i for i, _ in lexical})
        priors: dict[str, float] = {}
        if cfg.fusion == "passages" and cfg.prior_weight:
            priors = self.document_priors(query, set(document_of.values()))
        fused = fuse(cfg, dense, lexical, document_of, priors)
        if cfg.fusion == "passages" and k is not None:
            fused = spread(fused, document_of, k, cfg.per_document, cfg.spread_margin)
        return fused

    def document_priors(self, query: str, document_ids: set[str]) -> dict[str, float]:
        """Each candidate document's prior for what the question names of issuer and period
        (``retrieval.doc_fields``); {} when it names neither (nothing read from the catalog then
        but the candidates' fields)."""
        question = doc_fields.asked(query)
        if not document_ids:
            return {}
        return doc_fields.priors(question, self.document_fields(document_ids))

    def document_fields(self, document_ids: set[str]) -> dict[str, doc_fields.DocFields]:
        """The issuer and period of each of these documents that has either (``retrieval.doc_fields``)."""
        if not document_ids:
            return {}
        with self._catalog.reader() as s:
            rows = s.execute(
                select(Document.id, Document.issuer, Document.period).where(
                    Document.id.in_(document_ids)
                )
            ).all()
        return {
            d: doc_fields.DocFields(issuer, doc_fields.Period.decode(period))
            for d, issuer, period in rows
            if issuer or period
        }

    def relevance_threshold(self, collection: str, override: float | None) -> float:
        """The relevance gate's threshold for ``collection``: ``override`` (the setting) when set,
        else the calibrated one of the model its vectors come from (``model_profiles``)."""
        if override is not None:
            return override
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            model = coll.embedding_model if coll and coll.embedding_model else None
        return model_profiles.relevance_threshold(
            model or model_label(self._embedder.name), override
        )

    def best_similarity(self, query: str, passages: list[ScoredChunk]) -> float:
        """Highest cosine between the query and the passages (fused scores are relative; the
        relevance gate needs an absolute one); -1 without passages. Raises EncoderUnavailable
        while the model of the passages' vectors cannot encode the query here: nothing can say
        then whether they are relevant."""
        if not passages:
            return -1.0
        with self._catalog.reader() as s:  # vectors and the model that made them, together
            coll = s.get(Collection, passages[0].collection)
            model = coll.embedding_model if coll and coll.embedding_model else None
            blobs = s.scalars(
                select(Chunk.vector).where(Chunk.id.in_([p.chunk_id for p in passages]))
            ).all()
        vectors = np.frombuffer(b"".join(b for b in blobs if b), dtype=np.float32)
        if vectors.size == 0:
            return -1.0
        encoder = self.embedder_for(model) if model else self._embedder
        if encoder is None:
            assert model is not None
            raise EncoderUnavailable(self.encoders.state(model))
        q = encoder.embed_query(query)
        return float((vectors.reshape(-1, q.shape[0]) @ q).max())

    def _ready(self, collection: str, ranked: list[tuple[int, float]]) -> list[ScoredChunk]:
        """The candidates whose document is ready in ``collection``, with their text."""
        scores = dict(ranked)
        # Two primary-key lookups: a join lets SQLite walk every chunk of the collection (measured:
        # 59 ms at 100k chunks against 3 ms).
        with self._catalog.reader() as s:
            chunks = s.execute(
                select(
                    Chunk.id,
                    Chunk.document_id,
                    Chunk.text,
                    Chunk.page,
                    Chunk.page_end,
                    Chunk.page_marks,
                    Chunk.heading,
                ).where(Chunk.id.in_(list(scores)))
            ).all()
            found = {
                doc_id: (name, origin)
                for doc_id, name, origin in s.execute(
                    select(Document.id, Document.name, Document.origin).where(
                        Document.id.in_({c.document_id for c in chunks}),
                        Document.status == DocStatus.ready,
                        Document.collection_id == collection,
                    )
                ).all()
            }
        return [
            ScoredChunk(
                chunk_id=c.id,
                document_id=c.document_id,
                document_name=found[c.document_id][0],
                collection=collection,
                text=c.text,
                page=c.page,
                heading=c.heading,
                score=scores[c.id],
                page_end=c.page_end,
                page_marks=tuple(tuple(m) for m in json.loads(c.page_marks or "[]")),
                origin=found[c.document_id][1],
            )
            for c in chunks
            if c.document_id in found
        ]

    def search(
        self,
        collection: str,
        query: str,
        k: int = 5,
        mode: Mode | None = None,
        document_ids: list[str] | None = None,
        config: SearchConfig | None = None,
    ) -> list[ScoredChunk]:
        """The ``k`` best passages of ready documents in ``collection``, best first.

        The catalog check must describe the same state as the index files searched: if the
        indexer committed a new generation meanwhile (a new version replacing an old one, say), the
        files searched may lack what the catalog now calls ready, so search again on the new files.
        """
        started = time.perf_counter()
        query = normal(query)  # the form the passages were stored in
        for _ in range(SEARCH_ATTEMPTS):
            indexes = self._indexes.get(collection)
            found = self._search_once(collection, query, k, mode, document_ids, config, indexes)
            if self._indexes.generation(collection) == indexes.generation:
                break
        label = mode or (config or self.config).mode
        metrics.SEARCH_SECONDS.labels(label).observe(time.perf_counter() - started)
        return found

    def _search_once(
        self,
        collection: str,
        query: str,
        k: int,
        mode: Mode | None,
        document_ids: list[str] | None,
        config: SearchConfig | None,
        indexes: CollectionIndexes,
    ) -> list[ScoredChunk]:
        cfg = config or self.config
        if cfg.rerank and self.reranker is None:
            raise NoReranker("reranking asked, but the server has no ASKDOCS_RERANK_MODEL")
        want = max(k, cfg.rerank_depth) if cfg.rerank else k
        ranked = self.candidates(collection, query, mode, document_ids, cfg, indexes, k)
        if not ranked:
            return []
        found: list[ScoredChunk] = []
        # Read the catalog for the best candidates only, a window at a time, until enough survive
        # the ready/collection check (reading all 100-200 candidates cost ~5 ms at 1M chunks).
        window = max(2 * want, 10)
        for start in range(0, len(ranked), window):
            found += self._ready(collection, ranked[start : start + window])
            if len(found) >= want:
                break
        # in the fused order (the per-document spread may have moved a passage after lower ones)
        order = {chunk: i for i, (chunk, _) in enumerate(ranked)}
        found.sort(key=lambda p: order[p.chunk_id])
        if cfg.rerank:  # the best rerank_depth, reordered; any beyond follow in fused order
            found = self.rerank(query, found[: cfg.rerank_depth]) + found[cfg.rerank_depth :]
        return found[:k]

    def rerank(self, query: str, passages: list[ScoredChunk]) -> list[ScoredChunk]:
        """Reorder by the cross-encoder's score of (query, heading + passage), which becomes
        each passage's ``score``."""
        assert self.reranker is not None
        texts = [passage_text(p.heading, p.text, p.document_name) for p in passages]
        scores = self.reranker.score(query, texts)
        rescored = [
            dataclasses.replace(p, score=float(s)) for p, s in zip(passages, scores, strict=True)
        ]
        rescored.sort(key=lambda p: (-p.score, p.chunk_id))
        return rescored
