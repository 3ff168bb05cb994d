"""Several processes creating the catalog at once (worker, indexer, API start together)."""

import subprocess
import sys

import pytest
from sqlalchemy import inspect

from core.catalog import Catalog

pytestmark = pytest.mark.unit


def test_concurrent_create_never_fails(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    code = f"from core.catalog import Catalog; Catalog({url!r}).create()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)
    ]
    errors = [p.communicate()[1].decode() for p in procs if p.wait() != 0]
    assert errors == []
    tables = set(inspect(Catalog(url).engine).get_table_names())
    assert {"collections", "documents", "chunks", "jobs", "job_documents"} <= tables
