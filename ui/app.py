"""askdocs web UI (Streamlit). Talks to the API over HTTP only: `streamlit run ui/app.py`."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape
from ui.summaries import ACTIVE, documents_summary

DOCUMENT_PAGE = 1000  # rows of the documents table (newest first); the counts cover them all
ICONS = {
    "queued": "⏳",
    "parsing": "📄",
    "embedding": "🧮",
    "indexing": "🗂️",
    "ready": "✅",
    "failed": "❌",
    "cancelled": "🚫",
}

st.set_page_config(page_title="askdocs", page_icon="📚", layout="wide")


def pages_label(page: int | None, page_end: int | None = None) -> str:
    """ "page 3", or "pages 3-4" for a passage that spans pages."""
    if page is None:
        return ""
    return f"pages {page}-{page_end}" if page_end not in (None, page) else f"page {page}"


def _client(api_key: str | None = None) -> ApiClient:
    """This browser session's client (one connection pool per session and key)."""
    held = st.session_state.get("_client")
    if held is None or held.api_key != api_key:
        if held is not None:
            held.close()
        held = st.session_state["_client"] = ApiClient.from_env(api_key=api_key)
    return held


def sign_in() -> ApiClient:
    """The API client of this browser session. With auth on, the key typed here lives in this
    session only: never in a file, a cookie or the URL."""
    anonymous = _client()
    auth = st.session_state.get("_auth")
    if auth is None:  # asked once per browser session: every page shares the UI's address
        try:
            auth = st.session_state["_auth"] = anonymous.health().get("auth", True)
        except ApiError as e:
            st.error(md_escape(e))
            st.stop()
    if not auth:
        st.sidebar.caption("Authentication is off: single-user mode, every collection is open.")
        return anonymous
    key = st.session_state.get("api_key")
    if key:
        client = _client(key)
        st.sidebar.caption(f"Signed in as **{md_escape(st.session_state.get('user', '?'))}**")
        if st.sidebar.button("Sign out"):
            st.session_state.clear()
            st.rerun()
        return client
    st.title("askdocs")
    with st.form("sign_in"):
        typed = st.text_input("API key", type="password", help="askdocs key create USER")
        if st.form_submit_button("Sign in") and typed:
            client = _client(typed.strip())
            try:
                me = client.me()
            except ApiError as e:
                st.error(md_escape(e))
            else:
                st.session_state["api_key"], st.session_state["user"] = typed.strip(), me["user"]
                st.rerun()
    st.caption("The first admin key is printed once by `askdocs up` on its first start.")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() ends the run


api = sign_in()


def sidebar() -> str:
    st.sidebar.title("askdocs")
    try:
        names = [c["name"] for c in api.collections()]
    except ApiError as e:
        st.sidebar.error(md_escape(e))
        st.stop()
    collection = st.sidebar.selectbox("Collection", names or ["default"], key="collection")
    with st.sidebar.expander("New collection"):
        name = st.text_input("Name", key="new_collection")
        if st.button("Create") and name:
            try:
                api.create_collection(name)
                st.rerun()
            except ApiError as e:
                st.error(md_escape(e))
    return str(collection)


def job_progress(job_id: str) -> None:
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


def collection_counts(collection: str) -> dict[str, int]:
    """Documents of ``collection`` per state, counted by the API (the table shows a page only)."""
    try:
        return dict(api.collection(collection).get("by_status") or {})
    except ApiError as e:
        if e.status == 404:  # deleted, or not yet made by a first upload
            return {}
        raise


def document_page(collection: str, counts: dict[str, int], needle: str, states: list[str]) -> list:
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
def document_list(collection: str) -> None:
    if st.session_state.get("job"):
        job_progress(st.session_state["job"])
    needle = st.session_state.get("doc_filter", "").strip()
    states = st.session_state.get("doc_states") or []
    try:
        counts = collection_counts(collection)
        docs = document_page(collection, counts, needle, states) if counts else []
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


def documents_tab(collection: str) -> None:
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
    document_list(collection)
    document_detail(collection)


def document_detail(collection: str) -> None:
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


def collections_tab() -> None:
    try:
        colls = api.collections()
    except ApiError as e:
        st.error(md_escape(e))
        return
    st.dataframe(
        [
            {
                "name": c["name"],
                "documents": c["documents"],
                "ready": c["ready"],
                "your role": c["role"],
                "owner": c["owner"] or "",
                "model": c["embedding_model"] or "",
            }
            for c in colls
        ],
        width="stretch",
        hide_index=True,
    )
    for c in colls:
        if c.get("reembedding"):
            r = c["reembedding"]
            total = max(r["chunks_total"], 1)
            st.progress(
                min(r["chunks_done"] / total, 1.0),
                text=f"{c['name']}: re-embedding with {md_escape(r['model'])}, "
                f"{r['chunks_done']} of {r['chunks_total']} chunks; searches use "
                f"{md_escape(c['embedding_model'])} until it is done",
            )
    name = st.text_input("New collection", placeholder="letters, digits, _ . -", key="coll_new")
    if st.button("Create collection") and name:
        try:
            api.create_collection(name.strip())
            # collection names here passed the API's pattern (letters, digits, _ . -): no Markdown
            st.success(f"Created {name.strip()}")
        except ApiError as e:
            st.error(md_escape(e))
    owned = [c["name"] for c in colls if c["role"] == "owner" and c["name"] != "default"]
    if owned:
        st.subheader("Rename a collection")
        source = st.selectbox("Collection to rename", owned, index=None, key="rename_source")
        new_name = st.text_input("New name", key="rename_to").strip()
        if st.button("Rename collection", disabled=not source or not new_name):
            try:
                out = api.rename_collection(str(source), new_name)
                if out.get("renaming_to"):
                    st.info(f"{source} is being renamed to {new_name}; refresh in a moment.")
                else:
                    st.success(f"{source} is now {out['name']}, with its documents and members.")
            except ApiError as e:
                st.error(md_escape(e))
        st.subheader("Delete a collection")
        target = st.selectbox("Collection to delete", owned, index=None, key="drop_target")
        typed = st.text_input("Type its name to confirm", key="drop_confirm")
        if st.button("Delete collection", disabled=not target or typed != target):
            try:
                api.delete_collection(str(target))
                st.success(f"{target} deleted, with its documents and indexes.")
            except ApiError as e:
                st.error(md_escape(e))


def status_tab() -> None:
    try:
        status = api.status()
    except ApiError as e:
        st.error(md_escape(e))
        return
    st.markdown(f"**Overall:** {md_escape(status['status'])}")
    comps = status["components"]
    cols = st.columns(len(comps) + 1)
    for col, (name, comp) in zip(cols, comps.items(), strict=False):
        col.metric(md_escape(name), "up" if comp["ok"] else "down")
    cols[-1].metric("workers", len(status["workers"]))
    gen = comps.get("generator", {})
    if gen.get("ok"):
        models = ", ".join(gen.get("models", []))
        context = gen.get("context") or "?"
        st.caption(md_escape(f"Generator {models} at {gen['url']} (context {context})"))
    else:
        st.warning(md_escape(f"Generator at {gen.get('url')} is down: {gen.get('error', '')}"))
    for name, comp in comps.items():
        if comp.get("optional") and not comp["ok"]:
            st.warning(md_escape(f"{name}: {comp.get('error', 'unavailable')}"))
    st.caption(
        md_escape(
            "Queues: "
            + ", ".join(f"{q} {n} waiting" for q, n in status["queues"].items())
            + " · Workers: "
            + (", ".join(status["workers"]) or "none answered")
        )
    )
    st.dataframe(
        [
            {
                "collection": c["name"],
                "documents": sum(c["documents"].values()),
                "ready": c["documents"].get("ready", 0),
                "chunks": c["chunks"],
                "vectors": c["vectors"],
                "index": c["index_kind"],
                "segments": c.get("segments", 0),
                "lexical": c["lexical_chunks"],
                "generation": c["index_generation"],
            }
            for c in status["collections"]
        ],
        width="stretch",
        hide_index=True,
    )


def highlighted(passage: str, span: list[int] | None) -> str:
    """The passage as Markdown with its supporting sentence marked: the passage's own text is
    escaped, so the mark is the only active Markdown in it."""
    if not span:
        return md_escape(passage)
    a, b = span
    before, sentence, after = (md_escape(t) for t in (passage[:a], passage[a:b], passage[b:]))
    return f"{before}**:orange-background[{sentence}]**{after}"


def original_button(document_id: str, name: str, key: str) -> None:
    """Download the original: fetched on request (a PDF can be large), then offered."""
    held = st.session_state.get("original")
    if held and held[0] == key:
        st.download_button("Save the original", held[1], file_name=name.split("/")[-1], key=key)
    elif st.button("Download the original", key=f"get-{key}"):
        try:
            st.session_state["original"] = (key, api.original(document_id))
            st.rerun()
        except ApiError as e:
            st.error(md_escape(e))


def origin_line(origin: str | None) -> None:
    """Where a synced document lives, as text: a URL or path named by a source (or by a page it
    crawled) is never made a link the page would follow."""
    if origin:
        st.caption(f"From {md_escape(origin)}")


def show_sources(done: dict, key: str) -> None:
    unsupported = [c["text"] for c in done.get("claims", []) if not c["supported"]]
    if unsupported and not done.get("abstained"):
        st.warning(
            "Not found in the cited sources: " + " ".join(f"“{md_escape(t)}”" for t in unsupported),
            icon="⚠️",
        )
    for c in done.get("citations", []):
        # a citation with a supporting sentence names that sentence's page; else the range
        end = None if c.get("span") else c.get("page_end")
        page = f", {pages_label(c['page'], end)}" if c["page"] is not None else ""
        flag = "" if c.get("supported", True) else " ⚠️ does not hold the claim"
        with st.expander(md_escape(f"[{c['number']}] {c['document_name']}{page}") + flag):
            origin_line(c.get("origin"))
            st.markdown(highlighted(c["passage"], c.get("span")))
            original_button(c["document_id"], c["document_name"], f"{key}-{c['number']}")
    if done.get("second_look"):
        st.caption("Quoted from the sources when the model was asked to look again.")
    if done.get("answer") and not done.get("abstained"):
        with st.popover("Copy answer"):
            st.code(done["answer"], language=None, wrap_lines=True)  # has a copy button
    found = done.get("closest") or []  # the passages of the `sources` event
    given = done.get("passages_given", 0)
    if done.get("abstained") and done.get("closest_evidence"):
        st.caption("Closest evidence in the passages found (the model did not answer from it):")
        for e in done["closest_evidence"]:
            page = f", {pages_label(e['page'])}" if e.get("page") is not None else ""
            with st.expander(md_escape(f"[{e['number']}] {e['document_name']}{page}")):
                origin_line(e.get("origin"))
                st.markdown(f"> {md_escape(e['sentence'])}")
        return
    if done.get("abstained"):
        shown, caption = found[: given or 3], "Closest passages:"
    elif not done.get("citations") and given:
        shown = found[:given]
        caption = "The answer cites no passage; these are the ones the model was given:"
    else:
        return
    if shown:
        st.caption(caption)
    for p in shown:
        page = f", {pages_label(p['page'], p.get('page_end'))}" if p["page"] is not None else ""
        with st.expander(md_escape(f"[{p['n']}] {p['document_name']}{page}")):
            origin_line(p.get("origin"))
            st.markdown(md_escape(p["text"]))


def ask_tab(collection: str) -> None:
    history = st.session_state.setdefault("history", [])
    if st.session_state.get("history_collection") != collection:
        history.clear()  # a conversation belongs to one collection
        st.session_state["history_collection"] = collection
        st.session_state.pop("conversation_id", None)
    if st.button("New conversation"):
        history.clear()
        st.session_state.pop("conversation_id", None)
    messages = st.container()  # above the input box, which is drawn next
    question = st.chat_input("Ask a question about your documents")
    with messages:
        for i, turn in enumerate(history):
            with st.chat_message(turn["role"]):
                st.markdown(md_escape(turn["content"]))
                if turn.get("done"):
                    show_sources(turn["done"], f"turn{i}")
    if not question:
        return
    history.append({"role": "user", "content": question})
    with messages, st.chat_message("user"):
        st.markdown(md_escape(question))
    with messages, st.chat_message("assistant"):
        final: dict = {}
        closest: list = []

        def tokens():  # type: ignore[no-untyped-def]
            conv = st.session_state.get("conversation_id")
            for event, data in api.ask(collection, question, conv):
                if event == "sources":
                    st.session_state["conversation_id"] = data["conversation_id"]
                    closest.extend(data["passages"])
                elif event == "token":
                    yield data["text"]
                elif event == "done":
                    final.update(data)
                elif event == "error":
                    raise ApiError(data["message"])

        shown = st.empty()
        streamed = ""
        try:
            for piece in tokens():  # the whole text so far is escaped: a URL may span pieces
                streamed += piece
                shown.markdown(md_escape(streamed))
        except ApiError as e:
            st.error(md_escape(e))
            return
        if final.get("answer"):  # the checked text: markers added where the model left them out
            shown.markdown(md_escape(final["answer"]))
        final["closest"] = closest
        show_sources(final, f"turn{len(history)}")
    history.append({"role": "assistant", "content": final.get("answer", ""), "done": final})


RUN_COUNTS = ("listed", "new", "changed", "unchanged", "renamed", "deleted", "failed", "held")
KIND_HELP = {
    "folder": ("Folder on the server", "/srv/share/handbook"),
    "web": ("Start URL or sitemap (.xml)", "https://intranet.example.com/docs/"),
    "git": ("Repository URL or path on the server", "https://git.example.com/team/docs.git"),
}


def _lines(text: str) -> list[str]:
    return [t.strip() for t in text.replace(",", "\n").splitlines() if t.strip()]


def source_form(collection: str) -> None:
    with st.expander("Add a source", expanded=False):
        kind = st.selectbox("Kind", list(KIND_HELP), key="src_kind")
        label, example = KIND_HELP[kind]
        with st.form("add_source", clear_on_submit=False):
            where = st.text_input(label, placeholder=example)
            name = st.text_input("Source name", placeholder="shown in the list")
            schedule = st.text_input(
                "Schedule", placeholder="every 1h, 30m, or cron '0 3 * * *'; empty: by hand"
            )
            include = st.text_input("Include (globs)", placeholder="*.md, docs/*")
            exclude = st.text_input("Exclude (globs)", placeholder="drafts/*")
            branch = st.text_input("Branch (git)", value="main")
            max_pages = st.number_input("Most pages (web)", 1, 100_000, 500)
            max_depth = st.number_input("Link depth (web)", 0, 20, 2)
            token = st.text_input("Token (private site or repository)", type="password")
            submitted = st.form_submit_button("Add and sync")
            if submitted and not where.strip():
                st.error(f"Nothing added: fill in “{label}” first.")
            elif submitted:
                config: dict = {"include": _lines(include), "exclude": _lines(exclude)}
                if kind == "folder":
                    config["path"] = where.strip()
                elif kind == "web":
                    config.update(url=where.strip(), max_pages=max_pages, max_depth=max_depth)
                else:
                    config.update(url=where.strip(), branch=branch.strip() or "main")
                try:
                    api.add_source(
                        {
                            "collection": collection,
                            "name": (name or where).strip()[:128],
                            "kind": kind,
                            "config": config,
                            "schedule": schedule.strip() or None,
                            "token": token or None,
                        }
                    )
                    st.success("Added; the first sync is under way.")
                except ApiError as e:
                    st.error(md_escape(e))


def source_runs(src: dict) -> list:
    """The source's last runs: asked for again only while it syncs or when its last run changed
    (the list refreshes every few seconds, in every open tab)."""
    last = src.get("last_run") or {}
    key = (src["running"], last.get("id"), last.get("status"), last.get("finished_at"))
    held = st.session_state.setdefault("_source_runs", {}).get(src["id"])
    if held is not None and held[0] == key and not src["running"]:
        return held[1]
    runs = api.source_runs(src["id"], limit=10)
    st.session_state["_source_runs"][src["id"]] = (key, runs)
    return runs


def source_detail(src: dict) -> None:
    cols = st.columns(4)
    if cols[0].button("Sync now", key=f"sync-{src['id']}"):
        try:
            api.sync_source(src["id"])
            st.toast(f"Syncing {md_escape(src['name'])}")
        except ApiError as e:
            st.error(md_escape(e))
    paused = not src["enabled"]
    if cols[1].button("Resume schedule" if paused else "Pause schedule", key=f"en-{src['id']}"):
        try:
            api.update_source(src["id"], {"enabled": paused})
        except ApiError as e:
            st.error(md_escape(e))
    with st.form(f"edit-{src['id']}"):
        schedule = st.text_input("Schedule", value=src.get("schedule") or "")
        cfg = src["config"]
        include = st.text_input("Include (globs)", value=", ".join(cfg.get("include", [])))
        exclude = st.text_input("Exclude (globs)", value=", ".join(cfg.get("exclude", [])))
        if st.form_submit_button("Save"):
            changed = {**cfg, "include": _lines(include), "exclude": _lines(exclude)}
            try:
                api.update_source(src["id"], {"schedule": schedule, "config": changed})
                st.success("Saved")
            except ApiError as e:
                st.error(md_escape(e))
    keep = cols[3].checkbox("keep its documents", key=f"keep-{src['id']}")
    if cols[2].button("Remove", key=f"rm-{src['id']}"):
        try:
            api.remove_source(src["id"], keep_documents=keep)
            st.success(f"Removed {md_escape(src['name'])}")
        except ApiError as e:
            st.error(md_escape(e))
    try:
        runs = source_runs(src)
    except ApiError as e:
        st.error(md_escape(e))
        return
    st.dataframe(
        [
            {
                "started": (r.get("started_at") or r["created_at"])[:19].replace("T", " "),
                "trigger": r["trigger"],
                "status": r["status"],
                "s": r.get("duration_s"),
                **{k: r[k] for k in RUN_COUNTS},
                "message": r.get("message") or "",
            }
            for r in runs
        ],
        width="stretch",
        hide_index=True,
    )
    failures = [f for r in runs[:1] for f in r.get("failures", [])]
    for f in failures[:20]:
        st.caption(md_escape(f"❌ {f['origin']}: {f['reason']}"))
    last = runs[0] if runs else None
    if last is not None and last["status"] == "held":
        st.warning(md_escape(last.get("message") or f"{last['held']} deletions held"))
        label = f"Delete the {last['held']} documents it no longer lists"
        if st.button(label, key=f"confirm-{src['id']}"):
            try:
                api.sync_source(src["id"], confirm_deletions=True)
                st.toast(f"Syncing {md_escape(src['name'])}, deletions confirmed")
            except ApiError as e:
                st.error(md_escape(e))


@st.fragment(run_every=3)
def source_list(collection: str) -> None:
    try:
        sources = api.sources(collection)
    except ApiError as e:
        st.error(md_escape(e))
        return
    if not sources:
        st.info("No sources yet: add a folder, a website or a git repository above.")
        return
    st.dataframe(
        [
            {
                "name": s["name"],
                "kind": s["kind"],
                "schedule": s.get("schedule") or "by hand",
                "enabled": s["enabled"],
                "documents": s["documents"],
                "state": "syncing"
                if s["running"]
                else ((s.get("last_run") or {}).get("status", "")),
                "last run": ", ".join(
                    f"{k} {(s.get('last_run') or {}).get(k)}"
                    for k in RUN_COUNTS
                    if (s.get("last_run") or {}).get(k)
                ),
                "next run": (s.get("next_run_at") or "")[:19].replace("T", " "),
            }
            for s in sources
        ],
        width="stretch",
        hide_index=True,
    )
    for src in sources:
        with st.expander(md_escape(f"{src['name']} ({src['kind']})")):
            source_detail(src)


def sources_tab(collection: str) -> None:
    source_form(collection)
    source_list(collection)


collection = sidebar()
ask, docs, srcs, colls, status = st.tabs(["Ask", "Documents", "Sources", "Collections", "Status"])
with ask:
    ask_tab(collection)
with docs:
    documents_tab(collection)
with srcs:
    sources_tab(collection)
with colls:
    collections_tab()
with status:
    status_tab()
