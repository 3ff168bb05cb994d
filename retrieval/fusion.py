"""Combining ranked lists (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence


def rrf(rankings: Sequence[Sequence[int]], k: float = 60.0) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum over lists of 1 / (k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def minmax(
    runs: Sequence[Sequence[tuple[int, float]]], weights: Sequence[float]
) -> list[tuple[int, float]]:
    """Convex combination of min-max normalised scores; an item missing from a run scores 0 there."""
    scores: dict[int, float] = {}
    for run, w in zip(runs, weights, strict=True):
        for item, norm in _normalised(run):
            scores[item] = scores.get(item, 0.0) + w * norm
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def minmax_by_document(
    runs: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    document_of: dict[int, str],
    own_weight: float = 0.01,
    own_weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Min-max fusion at the document level (MaxP): each side scores a document by its best chunk,
    so a document whose dense and lexical evidence sit in different chunks gets both. A chunk scores
    its document's fused score plus a small share of its own, which orders chunks within a document;
    ``own_weights`` weigh the runs for that order (default: ``weights``).
    """
    doc_scores: dict[str, float] = {}
    own: dict[int, float] = {}
    for run, w, w_own in zip(runs, weights, own_weights or weights, strict=True):
        best: dict[str, float] = {}
        for item, s in _normalised(run):
            doc = document_of.get(item)
            if doc is None:
                continue
            best[doc] = max(best.get(doc, 0.0), s)
            own[item] = own.get(item, 0.0) + w_own * s
        for doc, s in best.items():
            doc_scores[doc] = doc_scores.get(doc, 0.0) + w * s
    fused = {
        item: doc_scores[document_of[item]] + own_weight * s
        for item, s in own.items()
        if item in document_of
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def _normalised(run: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    if not run:
        return []
    values = [s for _, s in run]
    lo, hi = min(values), max(values)
    span = hi - lo
    return [(item, (s - lo) / span if span > 0 else 1.0) for item, s in run]
