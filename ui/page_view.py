"""A citation's page: the page as the API renders it, with the passage's lines highlighted over it
(and its supporting sentence more strongly), the neighbouring pages a click away. Documents
without pages (text, HTML, office files where LibreOffice is not installed) keep the passage's
highlighted text only."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import streamlit as st

from client.http import ApiClient, ApiError
from ui.safe import md_escape

WIDTH = 900  # pixels of the page image asked for (shown at the column's width, at most this)
HELD = 12  # page images and boxes kept in this browser session, newest last
PASSAGE = "askdocs-hl"
SENTENCE = "askdocs-hl-sentence"
_STYLE = {
    PASSAGE: "background:rgba(255,213,0,0.30);outline:1px solid rgba(230,160,0,0.8);",
    SENTENCE: "background:rgba(255,120,0,0.38);outline:2px solid rgba(220,80,0,0.95);",
}


def _rect(box: Sequence[float], size: tuple[float, float], kind: str, snap: bool = False) -> str:
    """A highlight over ``box`` (points) on a page of ``size`` points, in percent of the page so it
    scales with the image; ``snap``: the place the page's frame scrolls to when it is shown."""
    w, h = size
    x0, top, x1, bottom = box
    left, up = 100 * x0 / w, 100 * top / h
    width, height = 100 * (x1 - x0) / w, 100 * (bottom - top) / h
    data = ",".join(str(v) for v in box)
    return (
        f'<div class="{kind}" data-box="{data}" style="position:absolute;left:{left:.3f}%;'
        f"top:{up:.3f}%;width:{width:.3f}%;height:{height:.3f}%;{_STYLE[kind]}"
        + ("scroll-snap-align:center;" if snap else "")
        + '"></div>'
    )


def overlay_html(
    png: bytes,
    page: int,
    size: tuple[float, float],
    passage: Sequence[Sequence[float]] = (),
    sentence: Sequence[Sequence[float]] = (),
) -> str:
    """The page image with the passage's boxes and the sentence's over it, as one HTML block: a
    frame the page scrolls in, which snaps to the sentence (else the passage's first box) so the
    passage is in view when the page opens (CSS only: the page runs no script of ours)."""
    if size[0] <= 0 or size[1] <= 0:
        passage, sentence, size = (), (), (1.0, 1.0)
    rects = "".join(_rect(b, size, PASSAGE, not sentence and i == 0) for i, b in enumerate(passage))
    rects += "".join(_rect(b, size, SENTENCE, i == 0) for i, b in enumerate(sentence))
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<div class="askdocs-frame" style="max-height:75vh;overflow-y:auto;max-width:{WIDTH}px;'
        'scroll-snap-type:y proximity;border:1px solid #bbb;">'
        f'<div class="askdocs-page" data-page="{page}" data-size="{size[0]:.2f}x{size[1]:.2f}" '
        'style="position:relative;width:100%;">'
        f'<img src="{src}" alt="page {page}" style="display:block;width:100%;height:auto;">'
        f"{rects}</div></div>"
    )


def _held(name: str, key: tuple, fetch):  # type: ignore[no-untyped-def]
    """``fetch()``, kept in this session under ``key`` (the last ``HELD`` of each kind)."""
    store: dict = st.session_state.setdefault(name, {})
    if key not in store:
        store[key] = fetch()
        while len(store) > HELD:
            store.pop(next(iter(store)))
    return store[key]


def boxes_of(api: ApiClient, chunk_id: int, span: Sequence[int] | None) -> dict:
    """The chunk's boxes (and its supporting sentence's, with ``span``), kept in the session."""
    start, end = (span[0], span[1]) if span else (None, None)
    return _held(
        "_chunk_boxes", (chunk_id, start, end), lambda: api.chunk_boxes(chunk_id, start, end)
    )


def citation_page(api: ApiClient, citation: dict, key: str) -> None:
    """The cited page with the passage marked, and buttons to the pages around it."""
    first = int(citation["page"])
    state = f"page-view-{key}"
    page = int(st.session_state.get(state, first))
    try:
        boxes = boxes_of(api, int(citation["chunk_id"]), citation.get("span"))
    except ApiError as e:
        st.caption(md_escape(f"Page positions unavailable: {e}"))
        boxes = {}
    try:
        shown = _held(
            "_page_images",
            (citation["document_id"], page, WIDTH),
            lambda: api.page(citation["document_id"], page, WIDTH),
        )
    except ApiError as e:
        if e.code == "no_pages":  # a format without pages: the passage's text says it all
            st.caption(md_escape(str(e).split(" (no_pages")[0]))
        else:
            st.caption(md_escape(f"The page could not be shown: {e}"))
        return
    on_page = str(page)
    passage = (boxes.get("boxes") or {}).get(on_page, [])
    sentence = (boxes.get("sentence") or {}).get(on_page, [])
    total = shown["pages"]
    back, where, ahead, home = st.columns([1, 2, 1, 1])
    if back.button("◀ Previous page", key=f"{state}-prev", disabled=page <= 1):
        st.session_state[state] = page - 1
        st.rerun()
    where.caption(
        f"Page {page} of {total}" + ("" if shown["via"] == "pdf" else " (via LibreOffice)")
    )
    if ahead.button("Next page ▶", key=f"{state}-next", disabled=page >= total):
        st.session_state[state] = page + 1
        st.rerun()
    if home.button("Cited page", key=f"{state}-home", disabled=page == first):
        st.session_state[state] = first
        st.rerun()
    if boxes and not boxes.get("boxes"):
        st.caption(md_escape(boxes.get("message") or "no positions stored"))
    st.html(overlay_html(shown["png"], page, shown["size"], passage, sentence))
    st.caption(f"{len(passage)} highlighted region(s) on this page")
