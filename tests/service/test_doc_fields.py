"""Issuer and period read off each document at ingestion, shown in the API, matched against the
question by hybrid search, and read again from the catalog for documents ingested before."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from core.catalog import Document
from retrieval.doc_fields_fill import fill_missing
from tests.service.conftest import Harness

pytestmark = pytest.mark.service


def filing(issuer: str, ended: str, sales: str, sga: str) -> bytes:
    return (
        f"{issuer}\n(Exact name of registrant as specified in its charter)\n"
        f"FORM 10-Q\nFor the quarterly period ended {ended}\n\n"
        f"Results of operations. Net sales for the quarter were ${sales} million. Selling, general "
        f"and administrative expenses were ${sga} million, driven by store openings.\n"
    ).encode()


FILINGS = (
    (
        "2023 Q1 Contoso.txt",
        filing("CONTOSO RETAIL CORPORATION", "April 1, 2023", "4,210", "1,020"),
    ),
    ("2023 Q2 Contoso.txt", filing("CONTOSO RETAIL CORPORATION", "July 1, 2023", "4,655", "1,090")),
    ("2023 Q2 Fabrikam.txt", filing("FABRIKAM STORES, INC.", "July 1, 2023", "2,310", "610")),
)


def test_the_report_of_the_named_issuer_and_period_comes_first(harness: Harness) -> None:
    harness.upload("filings", *FILINGS)
    harness.work()
    docs = {d["name"]: d for d in harness.documents("filings")}
    assert {n: (d["status"], d["issuer"], d["period"]) for n, d in docs.items()} == {
        "2023 Q1 Contoso.txt": ("ready", "CONTOSO RETAIL CORPORATION", "2023 Q1, ended 2023-04-01"),
        "2023 Q2 Contoso.txt": ("ready", "CONTOSO RETAIL CORPORATION", "2023 Q2, ended 2023-07-01"),
        "2023 Q2 Fabrikam.txt": ("ready", "FABRIKAM STORES, INC", "2023 Q2, ended 2023-07-01"),
    }
    for question, want in (
        ("What were Contoso's net sales in Q2 2023?", "2023 Q2 Contoso.txt"),
        ("What were Contoso's net sales in the first quarter of 2023?", "2023 Q1 Contoso.txt"),
        ("Fabrikam selling, general and administrative expenses", "2023 Q2 Fabrikam.txt"),
        ("Contoso's SG&A in its most recent 10-Q", "2023 Q2 Contoso.txt"),
    ):
        hits = harness.search("filings", question, k=3)
        assert hits[0]["document_name"] == want, (question, [h["document_name"] for h in hits])


def test_documents_ingested_before_get_their_fields_from_the_catalog(harness: Harness) -> None:
    harness.upload("older", FILINGS[1])
    harness.work()
    catalog = harness.services.catalog
    with catalog.session() as s:  # as a catalog written before the columns existed
        s.execute(
            update(Document)
            .where(Document.collection_id == "older")
            .values(issuer=None, period=None, fields_version=0)
        )
    assert harness.documents("older")[0]["issuer"] is None
    assert fill_missing(catalog) >= 1
    doc = harness.documents("older")[0]
    assert (doc["issuer"], doc["period"]) == (
        "CONTOSO RETAIL CORPORATION",
        "2023 Q2, ended 2023-07-01",
    )
    assert fill_missing(catalog) == 0  # read once
