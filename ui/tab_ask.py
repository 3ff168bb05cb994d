"""The Ask tab: a conversation with the collection, each answer with its citations; a citation
opens the page it came from (``ui.page_view``)."""

from __future__ import annotations

import streamlit as st

from client.http import ApiClient, ApiError
from ui.page_view import citation_page
from ui.safe import md_escape
from ui.shared import origin_line, original_button, pages_label


def highlighted(passage: str, span: list[int] | None) -> str:
    """The passage as Markdown with its supporting sentence marked: the passage's own text is
    escaped, so the mark is the only active Markdown in it."""
    if not span:
        return md_escape(passage)
    a, b = span
    before, sentence, after = (md_escape(t) for t in (passage[:a], passage[a:b], passage[b:]))
    return f"{before}**:orange-background[{sentence}]**{after}"


def show_sources(api: ApiClient, done: dict, key: str) -> None:
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
        cite_key = f"{key}-{c['number']}"
        # opening a citation reruns the page and shows the page it came from (fetched only then)
        opened = st.expander(
            md_escape(f"[{c['number']}] {c['document_name']}{page}") + flag,
            key=f"cite-{cite_key}",
            on_change="rerun",
        )
        with opened:
            origin_line(c.get("origin"))
            if opened.open and c.get("page") is not None and c.get("chunk_id") is not None:
                citation_page(api, c, cite_key)
            st.markdown(highlighted(c["passage"], c.get("span")))
            original_button(api, c["document_id"], c["document_name"], cite_key)
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


def ask_tab(api: ApiClient, collection: str) -> None:
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
                    show_sources(api, turn["done"], f"turn{i}")
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
        show_sources(api, final, f"turn{len(history)}")
    history.append({"role": "assistant", "content": final.get("answer", ""), "done": final})
