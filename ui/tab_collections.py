"""The Collections tab: the collections a key may read, new, rename, delete."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape


def collections_tab(api: ApiClient) -> None:
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
