"""What is known of an embedding model beyond its vectors: numbers that hold for one model only.

The relevance gate compares the question with its best passage by cosine, and cosines of two
models are not on one scale (MiniLM's unrelated pairs sit near 0.3, other models' near 0.7). So
the gate's threshold belongs to the model: changing ``ASKDOCS_EMBEDDING_MODEL`` cannot silently
change what the gate lets through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingProfile:
    # best-passage cosine below which /ask says the documents do not answer
    relevance_threshold: float
    # where the number comes from
    calibrated: str


PROFILES: dict[str, EmbeddingProfile] = {
    "packaged:all-MiniLM-L6-v2": EmbeddingProfile(
        0.35,
        "bench/calibrate_gate.py on 2026-11 (2-core box): SciFact's 809 judged claims (1% "
        "quantile 0.359) against the 195 sec-10q questions it cannot answer (median 0.299)",
    ),
}
# no calibration: the gate lets everything through and the generator's own refusal decides
UNGATED = -1.0


def relevance_threshold(model: str | None, override: float | None) -> float:
    """The gate's threshold for passages embedded by ``model``: ``override`` (the setting) when
    set, else the model's calibrated one, else none (-1)."""
    if override is not None:
        return override
    profile = PROFILES.get(model or "")
    return profile.relevance_threshold if profile else UNGATED
