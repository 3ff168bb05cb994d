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
        if not run:
            continue
        values = [s for _, s in run]
        lo, hi = min(values), max(values)
        span = hi - lo
        for item, s in run:
            norm = (s - lo) / span if span > 0 else 1.0
            scores[item] = scores.get(item, 0.0) + w * norm
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
