"""What every tab of the web page shares: the sign-in, this session's API client, the sidebar's
collection picker, and the small pieces of text several tabs show."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape

ICONS = {
    "queued": "⏳",
    "parsing": "📄",
    "embedding": "🧮",
    "indexing": "🗂️",
    "ready": "✅",
    "failed": "❌",
    "cancelled": "🚫",
}


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


def sidebar(api: ApiClient) -> str:
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


def original_button(api: ApiClient, document_id: str, name: str, key: str) -> None:
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
