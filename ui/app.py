"""askdocs web UI (Streamlit). Talks to the API over HTTP only: `streamlit run ui/app.py`."""

from __future__ import annotations

import streamlit as st

from ui.client import ApiClient, ApiError

ACTIVE = {"queued", "parsing", "embedding", "indexing"}
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


def sign_in() -> ApiClient:
    """The API client of this browser session. With auth on, the key typed here lives in this
    session only: never in a file, a cookie or the URL."""
    anonymous = ApiClient.from_env()
    try:
        auth = anonymous.health().get("auth", True)
    except ApiError as e:
        st.error(str(e))
        st.stop()
    if not auth:
        st.sidebar.caption("Authentication is off: single-user mode, every collection is open.")
        return anonymous
    key = st.session_state.get("api_key")
    if key:
        client = ApiClient.from_env(api_key=key)
        st.sidebar.caption(f"Signed in as **{st.session_state.get('user', '?')}**")
        if st.sidebar.button("Sign out"):
            st.session_state.clear()
            st.rerun()
        return client
    st.title("askdocs")
    with st.form("sign_in"):
        typed = st.text_input("API key", type="password", help="askdocs key create USER")
        if st.form_submit_button("Sign in") and typed:
            client = ApiClient.from_env(api_key=typed.strip())
            try:
                me = client.me()
            except ApiError as e:
                st.error(str(e))
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
        st.sidebar.error(str(e))
        st.stop()
    collection = st.sidebar.selectbox("Collection", names or ["default"], key="collection")
    with st.sidebar.expander("New collection"):
        name = st.text_input("Name", key="new_collection")
        if st.button("Create") and name:
            try:
                api.create_collection(name)
                st.rerun()
            except ApiError as e:
                st.error(str(e))
    return str(collection)


def job_progress(job_id: str) -> None:
    """The last upload's job: a bar with pages, pace and ETA, and a cancel button while it runs."""
    try:
        job = api.job(job_id)
    except ApiError as e:
        st.error(str(e))
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
            st.error(str(e))


@st.fragment(run_every=2)
def document_list(collection: str) -> None:
    if st.session_state.get("job"):
        job_progress(st.session_state["job"])
    try:
        docs = api.documents(collection)
    except ApiError as e:
        st.error(str(e))
        return
    if not docs:
        st.info("No documents yet: upload some above.")
        return
    active = sum(d["status"] in ACTIVE for d in docs)
    ready = sum(d["status"] == "ready" for d in docs)
    st.progress(ready / len(docs), text=f"{ready} of {len(docs)} ready, {active} in progress")
    rows = [
        {
            "name": d["name"],
            "status": d["status"],
            "pages": d["pages"],
            "chunks": d["chunks"],
            "error": d["error"] or "",
            "id": d["id"][:12],
        }
        for d in docs
    ]
    st.dataframe(rows, width="stretch", hide_index=True)
    stopped = [d for d in docs if d["status"] in ("failed", "cancelled")]
    if stopped and st.button(f"Retry {len(stopped)} failed or cancelled", key="retry_failed"):
        for d in stopped:
            try:
                api.retry_document(d["id"])
            except ApiError as e:
                st.error(f"{d['name']}: {e}")


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
                st.error(str(e))
    document_list(collection)


def highlighted(passage: str, span: list[int] | None) -> str:
    """The passage as Markdown with its supporting sentence marked."""
    if not span:
        return passage
    a, b = span
    return f"{passage[:a]}**:orange-background[{passage[a:b]}]**{passage[b:]}"


def show_sources(done: dict) -> None:
    unsupported = [c["text"] for c in done.get("claims", []) if not c["supported"]]
    if unsupported and not done.get("abstained"):
        st.warning(
            "Not found in the cited sources: " + " ".join(f"“{t}”" for t in unsupported),
            icon="⚠️",
        )
    for c in done.get("citations", []):
        page = f", page {c['page']}" if c["page"] is not None else ""
        flag = "" if c.get("supported", True) else " ⚠️ does not hold the claim"
        with st.expander(f"[{c['number']}] {c['document_name']}{page}{flag}"):
            st.markdown(highlighted(c["passage"], c.get("span")))
    if done.get("abstained") and done.get("closest"):
        st.caption("Closest passages:")
        for p in done["closest"]:
            page = f", page {p['page']}" if p["page"] is not None else ""
            with st.expander(f"{p['document_name']}{page}"):
                st.markdown(p["text"])


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
        for turn in history:
            with st.chat_message(turn["role"]):
                st.markdown(turn["content"])
                if turn.get("done"):
                    show_sources(turn["done"])
    if not question:
        return
    history.append({"role": "user", "content": question})
    with messages, st.chat_message("user"):
        st.markdown(question)
    with messages, st.chat_message("assistant"):
        final: dict = {}
        closest: list = []

        def tokens():  # type: ignore[no-untyped-def]
            conv = st.session_state.get("conversation_id")
            for event, data in api.ask(collection, question, conv):
                if event == "sources":
                    st.session_state["conversation_id"] = data["conversation_id"]
                    closest.extend(data["passages"][:3])
                elif event == "token":
                    yield data["text"]
                elif event == "done":
                    final.update(data)
                elif event == "error":
                    raise ApiError(data["message"])

        try:
            st.write_stream(tokens())
        except ApiError as e:
            st.error(str(e))
            return
        final["closest"] = closest
        show_sources(final)
    history.append({"role": "assistant", "content": final.get("answer", ""), "done": final})


collection = sidebar()
ask, docs = st.tabs(["Ask", "Documents"])
with ask:
    ask_tab(collection)
with docs:
    documents_tab(collection)
