"""Grammars that make the generator copy figures instead of typing them.

A small model reads the right table row and still writes a figure of its own now and then:
"total current liabilities ... $5,430,786" where the passage says 5,466. Its sampler can be told
what it may write (a GBNF grammar, as llama.cpp's server takes it in the request): here, every
run of digits in an answer must be a figure that stands in the passages given (or a citation
marker ``[n]`` of one of them), so a figure in an answer is copied, never made up. The words
around the figures stay free. (The operand step of a computation, ``generation.figures``, gets
none: nothing of its reply is shown, only figures found again in the passages.)

The figures are laid out as a trie of rules (one rule per shared prefix), so the sampler follows
a handful of alternatives at each digit whatever the number of figures. Pure logic: no model, no
I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache

# A figure as passages write it: 5,466 / 81,797 / 2023 / 3.5 / 0.25
_FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")
# More figures than this in the passages of one prompt are not all offered (the first ones
# are kept, passages in rank order); a prompt of 1,536 tokens holds a few hundred.
MAX_FIGURES = 2000
# Digits of the longest figure offered (a longer run is an identifier, not a figure).
MAX_FIGURE_CHARS = 24


def passage_figures(texts: Iterable[str], also: Iterable[str] = ()) -> list[str]:
    """The figures of ``texts`` as written (thousands commas kept, a trailing comma or period
    dropped), each once, in order of appearance; ``also`` adds strings that may be written too
    (the question's own figures)."""
    seen: dict[str, None] = {}
    for text in (*texts, *also):
        for m in _FIGURE.finditer(text):
            figure = m.group(0).rstrip(",.")
            if len(figure) <= MAX_FIGURE_CHARS:
                seen.setdefault(figure, None)
                if len(seen) >= MAX_FIGURES:
                    return list(seen)
    return list(seen)


@cache
def digit_class() -> str:
    """The inside of a character class of every digit and number sign of any script: ASCII
    digits, and the others a model can write a figure with when ASCII digits are held back
    ("𝟱,𝟎𝟎𝟎", "５", "²", "Ⅳ": Unicode's decimal digits, other numbers and letter numbers), as
    ``\\u``/``\\U`` escapes that GBNF and Python's ``re`` read alike. Built once (a third of
    a second)."""
    parts = ["0-9"]
    start = None
    for cp in range(0x80, 0x110001):
        number = cp < 0x110000 and unicodedata.category(chr(cp)) in ("Nd", "No", "Nl")
        if number and start is None:
            start = cp
        elif not number and start is not None:
            parts.append(f"{_escape(start)}-{_escape(cp - 1)}")
            start = None
    return "".join(parts)


def _escape(cp: int) -> str:
    return f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}"


def _literal(text: str) -> str:
    """A GBNF string literal (figures hold only digits, commas and periods; escaped anyway)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _trie_rules(figures: Sequence[str], name: str) -> list[str]:
    """Rules matching exactly one of ``figures``: ``name`` is the root, one rule per node of the
    prefix tree, so at each character the sampler follows only that node's branches."""
    trie: dict = {}
    for f in figures:
        node = trie
        for ch in f:
            node = node.setdefault(ch, {})
        node[""] = {}  # a figure ends here
    rules: list[str] = []
    counter = 0

    def emit(node: dict, rule: str) -> None:
        nonlocal counter
        alternatives = []
        for ch, child in sorted(node.items()):
            if ch == "":
                alternatives.append('""')
                continue
            # a chain of single children becomes one literal
            run = ch
            while len(child) == 1 and "" not in child:
                ((nxt, child),) = child.items()
                run += nxt
            if set(child) == {""}:
                alternatives.append(_literal(run))
                continue
            counter += 1
            sub = f"{name}-{counter}"
            alternatives.append(f"{_literal(run)} {sub}")
            emit(child, sub)
        rules.append(f"{rule} ::= " + " | ".join(alternatives))

    emit(trie, name)
    return rules


def _brackets(sources: int) -> list[str]:
    """``br``: a "[" that opens a citation ``[n]`` of one of ``sources`` passages, or is
    followed by a non-digit."""
    numbers = " | ".join(_literal(str(n)) for n in range(1, max(sources, 1) + 1))
    d = digit_class()
    return [f'br ::= "[" ( [^{d}\\[] | cite-n "]" )', f"cite-n ::= {numbers}"]


def copy_grammar(figures: Sequence[str], sources: int) -> str:
    """Free text in which every run of digits is one of ``figures`` or a citation ``[n]`` of
    one of ``sources`` passages. A figure ends where the digits end: after it comes a character
    that is neither a digit nor a thousands or decimal separator, or a separator followed by a
    non-digit ("5,466." ending a sentence), so no figure is glued from two; nor from two with a
    space between: after a figure and its citations, a period and spaces are not followed by a
    digit ("26. 7%", "5 [1]. 8%" read as 26.7% and 5.8%, which the passages need not have).

    Whatever the model has written, a likely next token is allowed (any non-digit outside a
    figure, a digit or a separator inside one): the server checks the grammar against the
    likeliest tokens only (``generation.llama_server``)."""
    d = digit_class()
    if not figures:  # nothing to copy: no digit may be written but a citation's
        return "\n".join(["root ::= ( text | br )*", f"text ::= [^{d}\\[]", *_brackets(sources)])
    return "\n".join(
        [
            # an answer may end on a figure, or on a figure, its citations and a period
            "root ::= ( text | br | fig tail )* ( fig cites [,.]? )?",
            f"text ::= [^{d}\\[]",
            # after a figure: its citations, then anything but a digit, a separator before a
            # digit, or a period and spaces before a digit ("26. 7%" and "5 [1]. 8%" would read
            # as figures no passage has); spaces before another figure ("Q3 2023") are fine. At
            # most two spaces or newlines after such a period: a model that wants the digit
            # must write something else, not spaces until its token budget is spent
            "tail ::= cites after",
            'cites ::= ( " "* br )*',
            f"after ::= [^{d},.\\[ \\n] | [ \\n]+ ( [^{d},.\\[ \\n] | fig tail | fig cites [,.]? )"
            f' | "," ( [^{d}\\[] | br ) | "." ( [^{d}\\[ \\n] | br | [ \\n] [ \\n]? ( [^{d}\\[ \\n] | br ) )',
            *_brackets(sources),
            *_trie_rules(figures, "fig"),
        ]
    )
