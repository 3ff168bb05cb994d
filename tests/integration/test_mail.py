"""E-mails on the real stack: headers kept as metadata and searchable, each attachment ingested as a
document of its own linked to the mail, in the mail's job; deleting the mail deletes them."""

from __future__ import annotations

import email.message
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import make_pdf, wait_for, wait_job

pytestmark = pytest.mark.integration


def test_mail_with_attachments(api: httpx.Client, tmp_path: Path) -> None:
    msg = email.message.EmailMessage()
    msg["From"] = "Ada Lovelace <ada@example.org>"
    msg["To"] = "Charles Babbage <charles@example.org>"
    msg["Subject"] = "Survey of the Quennel viaduct"
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 +0000"
    msg.set_content("Charles, the survey notes are attached. Regards, Ada.")
    msg.add_attachment(
        b"The Quennel viaduct rests on 31 granite piers.",
        maintype="text",
        subtype="plain",
        filename="piers.txt",
    )
    pdf = make_pdf(tmp_path / "cost.pdf", ["Repainting the Quennel viaduct costs 48,000 crowns."])
    msg.add_attachment(
        pdf.read_bytes(), maintype="application", subtype="pdf", filename="../../cost.pdf"
    )
    resp = api.post(
        "/documents",
        data={"collection": "mail"},
        files=[("files", ("survey.eml", bytes(msg), "message/rfc822"))],
    )
    assert resp.status_code == 202, resp.text
    job = wait_job(api, resp.json()["id"])
    docs = {d["name"]: d for d in job["documents"]}
    assert set(docs) == {"survey.eml", "survey.eml/piers.txt", "survey.eml/cost.pdf"}, docs
    assert {d["status"] for d in docs.values()} == {"ready"}
    mail = api.get(f"/documents/{docs['survey.eml']['id']}").json()
    assert mail["metadata"]["subject"] == "Survey of the Quennel viaduct"
    assert "ada@example.org" in " ".join(mail["metadata"]["from"])
    for name in ("survey.eml/piers.txt", "survey.eml/cost.pdf"):
        assert api.get(f"/documents/{docs[name]['id']}").json()["parent_id"] == mail["id"]

    def found(query: str) -> list[str]:
        r = api.post("/search", json={"collection": "mail", "query": query, "k": 3})
        return [p["document_id"] for p in r.json()["passages"]]

    assert (
        found("How many granite piers hold the Quennel viaduct?")[0]
        == docs["survey.eml/piers.txt"]["id"]
    )
    assert found("What does repainting the viaduct cost?")[0] == docs["survey.eml/cost.pdf"]["id"]
    assert found("mail from Ada Lovelace about the survey")[0] == mail["id"]  # headers searchable

    assert api.delete(f"/documents/{mail['id']}").status_code == 202
    wait_for(
        lambda: found("granite piers viaduct") == [], 60, "the attachments to go with the mail"
    )
