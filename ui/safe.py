"""Text from documents, the model, users and sources, made inert for Streamlit's Markdown.

Almost every Streamlit call that shows a string (``st.markdown``, ``st.caption``, ``st.error``,
``st.toast``, expander, metric and progress labels) reads it as Markdown: a planted
``![](https://host/?q=...)`` would make the reader's browser fetch that URL, carrying whatever the
attacker put in it, and links or HTML could be planted too. The page escapes such text with
:func:`md_escape` and adds only its own markup around it.
"""

from __future__ import annotations

import re
import string

# CommonMark lets a backslash escape any ASCII punctuation character, and then shows it
# literally. Escaping all of them, not a hand-picked list, also covers what Streamlit adds to
# Markdown: `:color[...]` and `:emoji:` (colon), LaTeX (`$`), autolinks (`<`), entities (`&`),
# tables (`|`) and headings (`#`, `=`).
_ESCAPES = str.maketrans({c: "\\" + c for c in string.punctuation})

# GitHub's bare-URL links (`https://x`, `www.x`, `a@b.c`) are found in the parsed text, after
# escapes are undone, so no backslash stops them. An invisible WORD JOINER inside the pattern
# does: it matches neither `https?://`, `www.` nor the domain after `@`.
WORD_JOINER = "\u2060"
_BARE_LINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)(?=[-\w])", re.IGNORECASE)


def md_escape(text: object) -> str:
    """``text`` as Markdown that shows these characters (and, in bare URLs and mail addresses, an
    invisible word joiner): no image, link, bare URL, HTML, entity or emphasis in it is active.
    Escape a whole text, not pieces of it: a URL split across two pieces would not be broken."""
    return _BARE_LINK.sub(WORD_JOINER, str(text)).translate(_ESCAPES)
