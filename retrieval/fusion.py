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
    doc_scores, own = _document_and_own(runs, weights, own_weights or weights, document_of)
    fused = {
        item: doc_scores[document_of[item]] + own_weight * s
        for item, s in own.items()
        if item in document_of
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def _document_and_own(
    runs: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    own_weights: Sequence[float],
    document_of: dict[int, str],
) -> tuple[dict[str, float], dict[int, float]]:
    """Each document's fused score (each side's best passage, min-max normalised, weighted by
    ``weights``) and each passage's own (weighted by ``own_weights``); passages of no known
    document are left out."""
    doc_scores: dict[str, float] = {}
    own: dict[int, float] = {}
    for run, w, w_own in zip(runs, weights, own_weights, strict=True):
        best: dict[str, float] = {}
        for item, s in _normalised(run):
            doc = document_of.get(item)
            if doc is None:
                continue
            best[doc] = max(best.get(doc, 0.0), s)
            own[item] = own.get(item, 0.0) + w_own * s
        for doc, s in best.items():
            doc_scores[doc] = doc_scores.get(doc, 0.0) + w * s
    return doc_scores, own


def _normalised(run: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    if not run:
        return []
    values = [s for _, s in run]
    lo, hi = min(values), max(values)
    span = hi - lo
    return [(item, (s - lo) / span if span > 0 else 1.0) for item, s in run]


def minmax_passages(
    runs: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    document_of: dict[int, str],
    document_share: float,
    priors: dict[str, float] | None = None,
    prior_weight: float = 0.0,
    own_weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Min-max fusion at the passage level with a document prior.

    A passage scores ``(1 - document_share)`` of its own fused score plus ``document_share`` of its
    document's (each side's best passage, MaxP, as ``minmax_by_document``), plus ``prior_weight``
    times its document's prior in [-1, 1] (what the question names of issuer and period:
    ``retrieval.doc_fields.priors``). ``own_weights`` weigh the runs for the passage's own score
    (default: ``weights``, which weigh them for the document's). A document whose lexical and dense
    evidence sit in different passages still rises, but its weaker passages no longer outrank
    another document's better one (with the document score alone, all top five went to one
    report, often the wrong period's).
    """
    doc_scores, own = _document_and_own(runs, weights, own_weights or weights, document_of)
    prior = priors or {}
    fused = {
        item: (1.0 - document_share) * s
        + document_share * doc_scores[document_of[item]]
        + prior_weight * prior.get(document_of[item], 0.0)
        for item, s in own.items()
        if item in document_of
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def spread(
    ranked: Sequence[tuple[int, float]],
    document_of: dict[int, str],
    k: int,
    per_document: int,
    margin: float = 0.0,
) -> list[tuple[int, float]]:
    """The first ``k`` of ``ranked`` with at most ``per_document`` passages of one document, unless
    its next passage beats every other document's remaining best by more than ``margin`` (evidence
    for one document that is overwhelming); the passages passed over follow, in order."""
    if per_document <= 0 or per_document >= k:
        return list(ranked)
    taken: list[tuple[int, float]] = []
    later: list[tuple[int, float]] = []
    counts: dict[str, int] = {}
    rest = list(ranked)
    i = 0
    while i < len(rest) and len(taken) < k:
        item, score = rest[i]
        doc = document_of.get(item, str(item))
        if counts.get(doc, 0) < per_document:
            taken.append((item, score))
            counts[doc] = counts.get(doc, 0) + 1
        else:
            other = next((s for it, s in rest[i + 1 :] if document_of.get(it) != doc), None)
            if other is None or score - other > margin:
                taken.append((item, score))
                counts[doc] = counts.get(doc, 0) + 1
            else:
                later.append((item, score))
        i += 1
    return taken + later + rest[i:]
