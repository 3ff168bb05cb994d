"""A table is shown to the generator with the columns of the period a question names, the period
read off the documents (``generation.columns``, ``retrieval.doc_fields.period_ends``). A user who
reads one collection must learn nothing through it of a collection they cannot read: the days
it narrows a table to come from the asked collection's documents only.

The real answer service in this process (real catalog, FAISS and tantivy indexes, the real
embedding model, documents' issuer and period read at ingestion), up to what it knows before it
asks the generator."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from api.answering import AnswerService
from generation.client import GeneratorClient
from tests.service.conftest import Harness, in_process

pytestmark = pytest.mark.service

# the asker's collection: a table of two quarters, and no document of either period
OURS = (
    "Contoso shipping volumes by quarter\n\n"
    "| | Three Months Ended September 30, 2025 | Three Months Ended September 30, 2024 |\n"
    "| --- | --- | --- |\n"
    "| Containers shipped | 1,200 | 1,000 |\n"
)
# another team's collection: a report of Q3 2025 that says when that quarter ended
THEIRS = (
    "FABRIKAM INC.\n\nFor the quarterly period ended September 30, 2025\n\n"
    "Containers shipped in the quarter: 9,900."
)
QUESTION = "How many containers were shipped in Q3 2025?"


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with tempfile.TemporaryDirectory() as data, in_process(Path(data)) as h:
        h.upload("ours", ("contoso-volumes.md", OURS.encode()))
        h.upload("theirs", ("2025 Q3 Fabrikam.md", THEIRS.encode()))
        h.work()
        yield h


class _Named(GeneratorClient):
    """A generator that names its model and is never asked: ``prepare`` reads everything known
    before the first token and checks only that a model is there."""

    @property
    def model(self) -> str:
        return "askdocs-default"


def _service(harness: Harness) -> AnswerService:
    s = harness.services
    generator = _Named("http://127.0.0.1:9/v1", timeout=2, retries=0)
    return AnswerService(s.catalog, s.retriever, generator, harness.settings)


def test_another_collection_s_periods_never_narrow_a_table(harness: Harness) -> None:
    service = _service(harness)
    theirs = service.prepare("theirs", QUESTION, [])
    # the other collection's report says when Q3 2025 ended: asked there, the day is known
    assert theirs.period_ends == (date(2025, 9, 30),)
    ours = service.prepare("ours", QUESTION, [])
    # asked here, no document of the asked collection says it: the table is shown whole
    assert ours.passages and ours.period_ends == ()
