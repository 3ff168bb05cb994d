"""The Grafana dashboard in the repository is the generated one, and every metric it queries is one
askdocs exports (a renamed metric would leave an empty panel)."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client import Counter, Histogram

from core import metrics
from scripts.grafana_dashboard import OUT, dashboard

pytestmark = pytest.mark.unit
# state metrics the API reads at scrape time (api/metrics.py)
SCRAPE_TIME = {
    "askdocs_documents",
    "askdocs_index_generation",
    "askdocs_index_segments",
    "askdocs_index_vectors",
    "askdocs_queue_depth",
}


def exported() -> set[str]:
    names = set(SCRAPE_TIME)
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Histogram):
            names |= {value._name + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_the_dashboard_file_is_the_generated_one() -> None:
    assert json.loads(Path(OUT).read_text()) == dashboard()


def test_every_queried_metric_is_exported() -> None:
    queried = {
        name
        for panel in dashboard()["panels"]
        for target in panel["targets"]
        for name in re.findall(r"askdocs_[a-z_]+", target["expr"])
    }
    assert queried and queried <= exported(), queried - exported()
