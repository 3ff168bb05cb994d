"""askdocs web UI (Streamlit). Talks to the API over HTTP only: `streamlit run ui/app.py`.

The entry point: sign-in, the sidebar and the five tabs, each in a module of its own
(``ui/tab_*.py``) with what they share in ``ui/shared.py``; the session's API client is made here
and handed to each tab."""

from __future__ import annotations

import streamlit as st

from ui.shared import sidebar, sign_in
from ui.tab_ask import ask_tab
from ui.tab_collections import collections_tab
from ui.tab_documents import documents_tab
from ui.tab_sources import sources_tab
from ui.tab_status import status_tab

st.set_page_config(page_title="askdocs", page_icon="📚", layout="wide")

api = sign_in()
collection = sidebar(api)
ask, docs, srcs, colls, status = st.tabs(["Ask", "Documents", "Sources", "Collections", "Status"])
with ask:
    ask_tab(api, collection)
with docs:
    documents_tab(api, collection)
with srcs:
    sources_tab(api, collection)
with colls:
    collections_tab(api)
with status:
    status_tab(api)
