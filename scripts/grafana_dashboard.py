"""deploy/grafana/askdocs.json, the Grafana dashboard of askdocs' metrics (core/metrics.py).

python scripts/grafana_dashboard.py           # print it
python scripts/grafana_dashboard.py --write   # write deploy/grafana/askdocs.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "askdocs.json"

# (title, unit, [(PromQL, legend)])
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "HTTP requests/s by route and status",
        "reqps",
        [
            (
                "sum by (route, status) (rate(askdocs_http_requests_total[5m]))",
                "{{route}} {{status}}",
            )
        ],
    ),
    (
        "Search latency p50 / p99 by mode",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (le, mode) (rate(askdocs_search_seconds_bucket[5m])))",
                "p50 {{mode}}",
            ),
            (
                "histogram_quantile(0.99, sum by (le, mode) (rate(askdocs_search_seconds_bucket[5m])))",
                "p99 {{mode}}",
            ),
        ],
    ),
    (
        "Answers: time to first token p50 / p90",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (le) (rate(askdocs_ask_first_token_seconds_bucket[15m])))",
                "p50",
            ),
            (
                "histogram_quantile(0.9, sum by (le) (rate(askdocs_ask_first_token_seconds_bucket[15m])))",
                "p90",
            ),
        ],
    ),
    (
        "Answers: tokens/s (mean) and generator errors/min",
        "short",
        [
            (
                "sum(rate(askdocs_ask_tokens_per_second_sum[15m])) / "
                "sum(rate(askdocs_ask_tokens_per_second_count[15m]))",
                "tokens/s",
            ),
            (
                "sum by (reason) (rate(askdocs_generator_errors_total[5m])) * 60",
                "errors {{reason}}",
            ),
        ],
    ),
    (
        "Documents by state",
        "short",
        [("sum by (state) (askdocs_documents)", "{{state}}")],
    ),
    (
        "Ingest outcomes/min by code",
        "short",
        [
            (
                "sum by (outcome, code) (rate(askdocs_ingest_documents_total[5m])) * 60",
                "{{outcome}} {{code}}",
            )
        ],
    ),
    (
        "Parsing: pages/s and seconds per document (mean) by type",
        "short",
        [
            ("sum by (type) (rate(askdocs_parse_pages_total[5m]))", "pages/s {{type}}"),
            (
                "sum by (type) (rate(askdocs_parse_seconds_sum[5m])) / "
                "sum by (type) (rate(askdocs_parse_seconds_count[5m]))",
                "s/doc {{type}}",
            ),
        ],
    ),
    (
        "Embedding chunks/s (while embedding) and chunks embedded/s",
        "short",
        [
            (
                "sum(rate(askdocs_embed_chunks_total[5m])) / sum(rate(askdocs_embed_seconds_total[5m]))",
                "chunks/s while embedding",
            ),
            ("sum(rate(askdocs_embed_chunks_total[5m]))", "chunks/s"),
        ],
    ),
    (
        "Queue depth",
        "short",
        [("askdocs_queue_depth", "{{queue}}")],
    ),
    (
        "Indexer: documents per commit (mean) and commit seconds p90",
        "short",
        [
            (
                "sum(rate(askdocs_index_batch_documents_sum[5m])) / "
                "sum(rate(askdocs_index_batch_documents_count[5m]))",
                "documents/commit",
            ),
            (
                "histogram_quantile(0.9, sum by (le) (rate(askdocs_index_commit_seconds_bucket[5m])))",
                "commit s p90",
            ),
        ],
    ),
    (
        "Index: live vectors and segments by collection",
        "short",
        [
            ("askdocs_index_vectors", "vectors {{collection}}"),
            ("askdocs_index_segments", "segments {{collection}}"),
        ],
    ),
    (
        "Index generation by collection",
        "short",
        [("askdocs_index_generation", "{{collection}}")],
    ),
]


def dashboard() -> dict:
    panels = []
    for i, (title, unit, queries) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {
                        "refId": chr(ord("A") + j),
                        "expr": expr,
                        "legendFormat": legend,
                        "datasource": {"type": "prometheus", "uid": "prometheus"},
                    }
                    for j, (expr, legend) in enumerate(queries)
                ],
            }
        )
    return {
        "uid": "askdocs",
        "title": "askdocs",
        "tags": ["askdocs"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


if __name__ == "__main__":
    text = json.dumps(dashboard(), indent=2) + "\n"
    if "--write" in sys.argv:
        OUT.write_text(text)
    else:
        print(text, end="")
