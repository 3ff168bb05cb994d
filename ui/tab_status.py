"""The Status tab: each dependency up or down, the queues, workers and collections' indexes."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape


def status_tab(api: ApiClient) -> None:
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
