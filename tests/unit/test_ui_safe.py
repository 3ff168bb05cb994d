"""ui.safe.md_escape: planted Markdown and HTML come out as literal text. Each case is rendered by a
real CommonMark parser (markdown-it-py, with raw HTML allowed, as a lax renderer would) to check
that nothing in it is active and that the reader sees exactly the characters planted."""

from __future__ import annotations

import html
import re
import string

import pytest
from markdown_it import MarkdownIt

from ui.safe import INLINE, WORD_JOINER, md_escape

pytestmark = pytest.mark.unit
LEAK = "http://127.0.0.1:9/leak?q=secret+question"
PLANTED = {
    "image": f"![x]({LEAK})",
    "image, reference": f"![x][r]\n\n[r]: {LEAK}",
    "link": f"[click here]({LEAK})",
    "autolink": "<https://attacker.example/x>",
    "email autolink": "<someone@attacker.example>",
    "raw img": f'<img src="{LEAK}">',
    "raw html block": f'<div onclick="x()">hi</div>\n<iframe src="{LEAK}"></iframe>',
    "entity": "&lt;img src=x&gt; &amp; &#60;b&#62; &#x3C;",
    "emphasis": "*one* _two_ **three** __four__ ~~five~~",
    "heading": "# Title\nSubtitle\n===",
    "code": "`tick` and\n```\nfence\n```",
    "list and quote": "- item\n1. first\n2) second\n> quoted",
    "nested lists": "text\n  - nested\n\t+ plus\n 10) ten\n- - -\n\n## h2 ##\n#",
    "setext and table": "Title\n---\n\na | b\n-- | --\nc | d\n\nOther\n  ===",
    "table": "| a | b |\n|---|---|\n| 1 | 2 |",
    "streamlit color and emoji": ":red[alarm] :orange-background[x] :smile: :material/home:",
    "latex": "$x^2$ and $$\\int f$$",
    "backslash": "a \\*literal\\* star and a hard break\\\nhere",
    "bare url": f"see {LEAK} or HTTPS://attacker.example/x or WWW.attacker.example/y",
    "bare mail": "write to mailto:someone@attacker.example or someone@attacker.example",
}
# What Streamlit's page (remark-gfm) turns into links after parsing, escapes undone: its two
# patterns, as its bundle has them (JavaScript's \w is ASCII-only, hence re.ASCII).
BARE_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE | re.ASCII)
BARE_MAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)", re.ASCII)


def render(markdown: str) -> str:
    return (
        MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)
    )


def visible_text(rendered: str) -> str:
    """What a reader sees: the tags dropped, entities decoded, whitespace folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", rendered)).split())


@pytest.mark.parametrize("text", list(PLANTED.values()), ids=list(PLANTED))
def test_planted_markdown_and_html_render_as_literal_text(text: str) -> None:
    rendered = render(md_escape(text))
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", rendered))
    assert tags <= {"p", "br"}, (tags, rendered)  # no img, a, em, h1, pre, table, div, iframe...
    seen = visible_text(rendered)
    assert not BARE_URL.search(seen) and not BARE_MAIL.search(seen), seen
    assert seen.replace(WORD_JOINER, "") == " ".join(text.split())


def test_unescaped_cases_are_active_so_the_check_means_something() -> None:
    assert "<img" in render(PLANTED["image"])
    assert "<a " in render(PLANTED["autolink"])
    assert "<img" in render(PLANTED["raw img"])
    assert "<em>" in render(PLANTED["emphasis"])
    assert visible_text(render(PLANTED["entity"])) != PLANTED["entity"]
    assert len(BARE_URL.findall(PLANTED["bare url"])) == 3
    assert len(BARE_MAIL.findall(PLANTED["bare mail"])) == 2


def test_inline_characters_are_escaped_and_nothing_else_changes() -> None:
    text = "x " + string.punctuation + " plain words, ünïcode – “quotes” 4,800\n"
    out = md_escape(text)
    assert out == "".join("\\" + c if c in INLINE else c for c in text)
    # block markers are left alone away from a line's start
    assert md_escape("orchard.txt - #0 · 1. + =") == "orchard.txt - #0 · 1. + ="
    assert md_escape("#0 · page 3") == "#0 · page 3"  # not a heading: no space after the #
    assert md_escape("unknown, revoked (HTTP 401)") == "unknown, revoked (HTTP 401)"
    assert md_escape("Bramley apples 4800") == "Bramley apples 4800"
    assert WORD_JOINER not in md_escape("a: b // c, the www and @ alone")


def test_page_markup_around_escaped_text_still_works() -> None:
    """The page's own bold label and highlight mark stay active around escaped text."""
    label = f"**Overall:** {md_escape('*not bold*')}"
    rendered = render(label)
    assert rendered.count("<strong>") == 1 and "*not bold*" in visible_text(rendered)


def test_non_strings_are_shown_as_their_text() -> None:
    assert md_escape(ValueError("bad [x](y)")) == "bad \\[x\\](y)"
    assert md_escape(42) == "42"
