"""The Documents tab: upload, the documents of a collection with their state, one document's
chunks, its original, delete."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape
from ui.shared import ICONS, pages_label
from ui.summaries import ACTIVE, documents_summary

DOCUMENT_PAGE = 1000  # rows of the documents table (newest first); the counts cover them all


def job_progress(api: ApiClient, job_id: str) -> None:
    """The last upload's job: a bar with pages, pace and ETA, and a cancel button while it runs."""
    try:
        job = api.job(job_id)
    except ApiError as e:
        st.error(md_escape(e))
        return
    total = max(job["total"], 1)
    parts = [f"{job['finished']} of {job['total']} done"]
    if job["pages"]:
        parts.append(f"{job['pages']} pages read")
    if job["eta_s"] is not None:
        parts.append(f"about {job['eta_s']:.0f} s left")
    if job["cancelled_at"]:
        parts.append("cancelled")
    st.progress(job["finished"] / total, text="Last upload: " + ", ".join(parts))
    if not job["done"] and st.button("Cancel this upload", key="cancel_job"):
        try:
            api.cancel_job(job_id)
        except ApiError as e:
            st.error(md_escape(e))


def collection_counts(api: ApiClient, collection: str) -> dict[str, int]:
    """Documents of ``collection`` per state, counted by the API (the table shows a page only)."""
    try:
        return dict(api.collection(collection).get("by_status") or {})
    except ApiError as e:
        if e.status == 404:  # deleted, or not yet made by a first upload
            return {}
        raise


def document_page(
    api: ApiClient, collection: str, counts: dict[str, int], needle: str, states: list[str]
) -> list:
    """The table's documents: asked for again only while some are in progress or the counts or
    the filter changed (an idle tab costs one count a refresh, not a list of 1,000)."""
    key = (collection, needle, tuple(states), tuple(sorted(counts.items())))
    held = st.session_state.get("_document_page")
    if held is not None and held[0] == key and not any(counts.get(s) for s in ACTIVE):
        return held[1]
    docs = api.documents(collection, limit=DOCUMENT_PAGE, name=needle, statuses=states)
    st.session_state["_document_page"] = (key, docs)
    return docs


@st.fragment(run_every=2)
def document_list(api: ApiClient, collection: str) -> None:
    if st.session_state.get("job"):
        job_progress(api, st.session_state["job"])
    needle = st.session_state.get("doc_filter", "").strip()
    states = st.session_state.get("doc_states") or []
    try:
        counts = collection_counts(api, collection)
        docs = document_page(api, collection, counts, needle, states) if counts else []
    except ApiError as e:
        st.error(md_escape(e))
        return
    if not counts:
        st.info("No documents yet: upload some above.")
        return
    value, line, note = documents_summary(counts, len(docs), DOCUMENT_PAGE, bool(needle or states))
    st.progress(value, text=line)
    if note:
        st.caption(md_escape(note))
    rows = [
        {
            "name": d["name"],
            "": ICONS.get(d["status"], ""),
            "status": d["status"],
            "pages": (
                f"{d.get('pages_done') or 0} / {d['pages']}"
                if d["status"] == "parsing" and d["pages"]
                else str(d["pages"] or "")
            ),
            "chunks": d["chunks"],
            "error": d["error"] or "",
            "id": d["id"][:12],
        }
        for d in docs
    ]
    st.dataframe(rows, width="stretch", hide_index=True)
    stopped = counts.get("failed", 0) + counts.get("cancelled", 0)
    if stopped and st.button(f"Retry {stopped:,} failed or cancelled", key="retry_failed"):
        try:
            n = api.retry_collection(collection)
            st.toast(
                f"{n:,} queued again"
                + (
                    " (the rest: replaced by a newer version, or changed meanwhile)"
                    if n < stopped
                    else ""
                )
            )
        except ApiError as e:
            st.error(md_escape(e))


def documents_tab(api: ApiClient, collection: str) -> None:
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader("Add documents", accept_multiple_files=True)
        if st.form_submit_button("Upload") and files:
            try:
                job = api.upload(collection, [(f.name, f.getvalue(), f.type) for f in files])
                st.session_state["job"] = job["id"]
                dup = sum(d["duplicate"] for d in job["documents"])
                msg = f"Queued {job['total'] - dup} file(s)"
                st.success(msg + (f"; {dup} already in this collection" if dup else ""))
            except ApiError as e:
                st.error(md_escape(e))
    left, right = st.columns([2, 1])
    left.text_input("Filter by name", key="doc_filter", placeholder="part of a file name")
    right.multiselect("States", list(ICONS), key="doc_states")
    document_list(api, collection)
    document_detail(api, collection)


def document_detail(api: ApiClient, collection: str) -> None:
    """One document: its chunks as search sees them, the original, delete."""
    try:
        docs = [d for d in api.documents(collection) if d["status"] != "deleted"]
    except ApiError as e:
        st.error(md_escape(e))
        return
    if not docs:
        return
    by_label = {f"{d['name']} ({d['id'][:8]})": d for d in docs}
    label = st.selectbox("Document", list(by_label), index=None, placeholder="Pick a document")
    if label is None:
        return
    doc = by_label[label]
    st.caption(
        md_escape(
            f"{doc['status']} · {doc['pages'] or 0} pages · {doc['chunks'] or 0} chunks"
            + (f" · {doc['error']}" if doc["error"] else "")
        )
    )
    meta = doc.get("metadata") or {}
    if meta:  # an e-mail's sender, recipients, date and subject
        st.caption(
            md_escape(
                " · ".join(
                    f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in meta.items()
                )
            )
        )
    parent = next((d for d in docs if d["id"] == doc.get("parent_id")), None)
    if parent is not None:
        st.caption(f"attached to {md_escape(parent['name'])}")
    preview, actions = st.columns([3, 1])
    with preview:
        try:
            chunks = api.chunks(doc["id"]) if doc["status"] == "ready" else []
        except ApiError as e:
            st.error(md_escape(e))
            chunks = []
        for c in chunks:
            where = pages_label(c["page"], c.get("page_end"))
            head = " · ".join(x for x in (f"#{c['ordinal']}", where, c["heading"] or "") if x)
            with st.expander(md_escape(head)):
                st.text(c["text"])
    with actions:
        if st.button("Prepare download", key=f"dl-{doc['id']}"):
            try:
                st.session_state["download"] = (doc["id"], api.original(doc["id"]))
            except ApiError as e:
                st.error(md_escape(e))
        ready = st.session_state.get("download")
        if ready and ready[0] == doc["id"]:
            st.download_button("Download original", ready[1], file_name=doc["name"].split("/")[-1])
        confirm = st.checkbox("Yes, delete it", key=f"confirm-{doc['id']}")
        if st.button("Delete document", disabled=not confirm, key=f"del-{doc['id']}"):
            try:
                api.delete_document(doc["id"])
                st.success(f"{md_escape(doc['name'])} deleted: it no longer appears in answers.")
            except ApiError as e:
                st.error(md_escape(e))
