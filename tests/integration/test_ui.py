"""The Streamlit page, run by Streamlit's AppTest against the real API of the test stack."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.integration.conftest import Stack, wait_for, wait_job

pytestmark = pytest.mark.integration
APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


@pytest.fixture(scope="module")
def ui_collection(api: httpx.Client) -> str:
    resp = api.post(
        "/documents",
        data={"collection": "ui"},
        files=[("files", ("orchard.txt", b"The Hollowell orchard grows Bramley apples."))],
    )
    wait_job(api, resp.json()["id"])
    return "ui"


def app(stack: Stack, monkeypatch: pytest.MonkeyPatch, signed_in: bool = True) -> AppTest:
    monkeypatch.setenv("ASKDOCS_API_URL", stack.api_url)
    at = AppTest.from_file(APP, default_timeout=120)
    if signed_in:
        at.session_state["api_key"] = stack.admin_key
        at.session_state["user"] = "admin"
    return at


def test_sign_in_with_a_key(stack: Stack, monkeypatch) -> None:
    at = app(stack, monkeypatch, signed_in=False).run()
    assert not at.exception
    assert not at.sidebar.selectbox  # nothing but the sign-in form before a key
    at.text_input[0].set_value("askd_000000000000_wrongwrongwrongwrongwrong")
    at.button[0].click().run()
    assert "unknown, revoked or mistyped" in at.error[0].value
    at.text_input[0].set_value(stack.admin_key)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["user"] == "admin"
    assert at.sidebar.selectbox[0].options  # the collections the key may read


def test_documents_tab_lists_states(stack: Stack, ui_collection: str, monkeypatch) -> None:
    at = app(stack, monkeypatch).run()
    assert not at.exception
    at.sidebar.selectbox[0].select(ui_collection).run()
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["name"] == "orchard.txt"].iloc[0]
    assert row["status"] == "ready" and row["chunks"] >= 1


def test_ask_tab_streams_answer_with_sources(stack: Stack, ui_collection: str, monkeypatch) -> None:
    at = app(stack, monkeypatch).run()
    at.sidebar.selectbox[0].select(ui_collection).run()
    at.chat_input[0].set_value("What kind of apples does the Hollowell orchard grow?").run()
    assert not at.exception
    answer = at.chat_message[1].markdown[0].value
    assert "Bramley" in answer
    sources = [e for e in at.expander if "orchard.txt" in e.label]
    assert sources
    # the sentence that supports the answer is highlighted in the passage
    assert any(":orange-background[" in m.value for e in sources for m in e.markdown)
    get = [b for b in at.button if b.label == "Download the original"]
    get[0].click().run()  # fetched from the API, then offered for saving
    assert not at.exception
    assert at.session_state["original"][1] == b"The Hollowell orchard grows Bramley apples."
    conversation = at.session_state["conversation_id"]
    at.chat_input[0].set_value("Who runs it?").run()  # a follow-up in the same conversation
    assert not at.exception
    assert at.session_state["conversation_id"] == conversation
    assert len(at.chat_message) == 4


def test_api_down_shows_a_readable_error(monkeypatch) -> None:
    monkeypatch.setenv("ASKDOCS_API_URL", "http://127.0.0.1:9")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "unreachable" in at.error[0].value


def test_last_upload_progress_and_retry(stack: Stack, api: httpx.Client, monkeypatch) -> None:
    resp = api.post(
        "/documents",
        data={"collection": "ui-jobs"},
        files=[
            ("files", ("good.txt", b"The Marrow ferry leaves at noon.")),
            ("files", ("empty.txt", b"")),
        ],
    )
    job = wait_job(api, resp.json()["id"])
    assert job["counts"] == {"ready": 1, "failed": 1}
    at = app(stack, monkeypatch)
    at.session_state["job"] = job["id"]
    at.run()
    at.sidebar.selectbox[0].select("ui-jobs").run()
    assert not at.exception
    assert any("Last upload: 2 of 2 done" in p.proto.text for p in at.get("progress"))
    retry = next(b for b in at.button if b.label.startswith("Retry 1 failed"))
    retry.click().run()
    assert not at.exception
    assert any(t.value == "1 queued again" for t in at.toast), [t.value for t in at.toast]
    events = api.get("/audit", params={"action": "retry"}).json()
    assert any(
        e["collection"] == "ui-jobs" and (e["detail"] or {}).get("documents") == 1 for e in events
    )


def test_document_detail_previews_chunks(stack: Stack, ui_collection: str, monkeypatch) -> None:
    at = app(stack, monkeypatch).run()
    at.sidebar.selectbox[0].select(ui_collection).run()
    (pick,) = [s for s in at.selectbox if s.label == "Document"]
    label = next(o for o in pick.options if o.startswith("orchard.txt"))
    pick.select(label).run()
    assert not at.exception
    chunks = [e for e in at.expander if e.label.startswith("#0")]
    assert chunks and "Bramley" in chunks[0].text[0].value
    # delete stays disabled until confirmed
    (delete,) = [b for b in at.button if b.label == "Delete document"]
    assert delete.disabled


def test_collections_tab_creates_renames_and_deletes(
    stack: Stack, api: httpx.Client, monkeypatch
) -> None:
    at = app(stack, monkeypatch).run()
    (new,) = [t for t in at.text_input if t.label == "New collection"]
    new.input("scratch-ui").run()
    (create,) = [b for b in at.button if b.label == "Create collection"]
    create.click().run()
    assert not at.exception
    assert "scratch-ui" in [c["name"] for c in api.get("/collections").json()]
    at.run()  # the list was read before the click created it
    at.selectbox(key="rename_source").select("scratch-ui").run()
    at.text_input(key="rename_to").input("scratch-renamed").run()
    (rename,) = [b for b in at.button if b.label == "Rename collection"]
    rename.click().run(timeout=30)
    assert not at.exception
    assert any("is now scratch-renamed" in m.value for m in at.success)
    names = [c["name"] for c in api.get("/collections").json()]
    assert "scratch-renamed" in names and "scratch-ui" not in names
    at.run()
    at.selectbox(key="drop_target").select("scratch-renamed").run()
    (drop,) = [b for b in at.button if b.label == "Delete collection"]
    assert drop.disabled  # not confirmed yet
    at.text_input(key="drop_confirm").input("scratch-renamed").run()
    (drop,) = [b for b in at.button if b.label == "Delete collection"]
    drop.click().run()
    assert not at.exception
    assert "scratch-renamed" not in [c["name"] for c in api.get("/collections").json()]
    q = {"collection": "scratch-renamed", "query": "x"}
    assert api.post("/search", json=q).status_code == 404


def test_status_tab_shows_components_and_indexes(
    stack: Stack, ui_collection: str, monkeypatch
) -> None:
    at = app(stack, monkeypatch).run()
    assert not at.exception
    assert any(m.label == "generator" and m.value == "up" for m in at.metric)
    assert any(m.label == "workers" and int(m.value) >= 1 for m in at.metric)
    tables = [d.value for d in at.dataframe if "vectors" in d.value.columns]
    row = tables[0][tables[0]["collection"] == ui_collection].iloc[0]
    assert row["ready"] >= 1 and row["vectors"] >= 1 and row["chunks"] >= 1


def test_source_form_sent_empty_says_so_and_adds_nothing(
    stack: Stack, api: httpx.Client, monkeypatch
) -> None:
    at = app(stack, monkeypatch).run()
    before = api.get("/sources").json()
    (add,) = [b for b in at.button if b.label == "Add and sync"]
    add.click().run()
    assert not at.exception
    assert any("Nothing added" in e.value for e in at.error), [e.value for e in at.error]
    assert api.get("/sources").json() == before


def test_a_held_sync_is_confirmed_from_the_sources_tab(
    stack: Stack, api: httpx.Client, monkeypatch, tmp_path: Path
) -> None:
    """A share that lists nothing holds its deletions; the Sources tab says so and its button
    carries them out."""
    share = tmp_path / "held-share"  # under the stack's folder root (the tests' temp root)
    share.mkdir()
    (share / "kiln.txt").write_text("The kiln is fired once a month.")
    (share / "loom.txt").write_text("The loom weaves wool from the island's sheep.")
    r = api.post(
        "/sources",
        json={
            "collection": "ui-held",
            "name": "Held share",
            "kind": "folder",
            "config": {"path": str(share)},
        },
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def last(status: str) -> dict | None:
        runs = api.get(f"/sources/{sid}/runs").json()
        return runs[0] if runs and runs[0]["status"] == status else None

    assert wait_for(lambda: last("done"), 120, "the first sync")["new"] == 2
    for f in share.iterdir():  # unmounted: the share lists nothing
        f.unlink()
    assert api.post(f"/sources/{sid}/sync").status_code == 202
    held = wait_for(lambda: last("held"), 120, "the held run")
    assert (held["held"], held["deleted"]) == (2, 0), held

    at = app(stack, monkeypatch).run()
    at.sidebar.selectbox[0].set_value("ui-held").run()
    assert not at.exception
    assert any("2 deletions held" in w.value for w in at.warning), [w.value for w in at.warning]
    (confirm,) = [b for b in at.button if b.label == "Delete the 2 documents it no longer lists"]
    confirm.click().run()
    assert not at.exception
    done = wait_for(lambda: last("done"), 120, "the confirmed run")
    assert done["confirm_deletions"] and done["deleted"] == 2, done


def _citation_view(api_url: str, key: str, citation: dict) -> None:
    """A script for AppTest: one citation's page view, as the Ask tab shows an opened one."""
    from client.http import ApiClient
    from ui.page_view import citation_page

    citation_page(ApiClient(api_url, key), citation, "c1")


def test_a_citation_opens_its_page_with_the_passage_marked(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    from tests.integration.conftest import make_pdf

    pdf = make_pdf(
        tmp_path / "ferry.pdf",
        ["The Marrow ferry sails at dawn.", "The Marrow ferry carries 40 cars on each crossing."],
    )
    resp = api.post(
        "/documents",
        data={"collection": "ui-pages"},
        files=[("files", ("ferry.pdf", pdf.read_bytes(), "application/pdf"))],
    )
    wait_job(api, resp.json()["id"])
    found = api.post("/search", json={"collection": "ui-pages", "query": "ferry cars crossing"})
    p = found.json()["passages"][0]
    citation = {
        "document_id": p["document_id"],
        "chunk_id": p["chunk_id"],
        "page": 2,
        "span": None,
    }
    at = AppTest.from_function(
        _citation_view, args=(stack.api_url, stack.admin_key, citation), default_timeout=60
    ).run()
    assert not at.exception
    (shown,) = [h for h in at.get("html") if "askdocs-page" in h.proto.body]
    assert 'data-page="2"' in shown.proto.body and 'class="askdocs-hl"' in shown.proto.body
    assert any("Page 2 of 2" in c.value for c in at.caption)
    (back,) = [b for b in at.button if b.label == "◀ Previous page"]
    back.click().run()
    assert not at.exception
    (shown,) = [h for h in at.get("html") if "askdocs-page" in h.proto.body]
    # the passage is on page 2 (its chunk: the whole two-page document, so page 1 is marked too)
    assert 'data-page="1"' in shown.proto.body and 'class="askdocs-hl"' in shown.proto.body
