"""The calculation a model writes, read back as arithmetic askdocs can redo exactly.

Asked for a margin, a share or a change, a small model writes the calculation well and the result
badly: "(21,213 - 19,604) / 19,604 * 100% = 10.87%" (the figures are the passage's, the result is
not; it is 8.2%). So its calculation is read, figure by figure and operator by operator, and the
result is computed here. Operators may be written as signs (``+ - * / × ÷ x``) or words
("divided by", "multiplied by", "minus", "plus", "times"); parentheses group; a final "× 100" that turns a fraction
into a percentage is set apart (it is not a figure of the documents). Pure logic: no model, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext

# a figure in a calculation: "$1,234.5", "21,213", "(210)" is grouping here, "12.5%"
_TOKEN = re.compile(
    r"(?P<num>\$?\s?\d[\d,]*(?:\.\d+)?(?:\s?%)?(?:\s?(?:million|billion|thousand)s?\b)?)"
    r"|(?P<cite>\[\d+(?:\s*,\s*\d+)*\])"
    r"|(?P<op>[+\-−*/×÷]|\bx\b|\bdivided\s+by\b|\bminus\b|\bplus\b|\btimes\b|\bmultiplied\s+by\b)"
    r"|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<space>[ \t]+)"
    r"|(?P<other>.)",
    re.IGNORECASE | re.DOTALL,
)
_OPS = {
    "+": "+",
    "plus": "+",
    "-": "-",
    "−": "-",
    "minus": "-",
    "*": "*",
    "×": "*",
    "x": "*",
    "times": "*",
    "/": "/",
    "÷": "/",
    "divided": "/",
    "multiplied": "*",
}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
MAX_TERMS = 12
# figures, operators, citations and parentheses of the longest calculation read
_MAX_SPAN = 4 * MAX_TERMS


@dataclass(frozen=True)
class Term:
    """A figure of a calculation as the model wrote it, and the passage it cited right after it
    (0: none)."""

    figure: str
    source: int = 0


@dataclass(frozen=True)
class Calculation:
    """A calculation read from a model's text: its tokens in order (``Term`` or an operator or a
    parenthesis), and whether a final "× 100" made its fraction a percentage."""

    tokens: tuple[Term | str, ...]
    percent: bool = False

    @property
    def terms(self) -> list[Term]:
        return [t for t in self.tokens if isinstance(t, Term)]

    def shown(self, figures: Sequence[str]) -> str:
        """The calculation with each term written as ``figures`` (in order) gives it."""
        out, k = [], 0
        for t in self.tokens:
            if isinstance(t, Term):
                out.append(figures[k])
                k += 1
            elif t in "()":
                out.append(t)
            else:
                out.append(f" {t} ")
        text = "".join(out).replace("( ", "(").replace(" )", ")")
        return re.sub(r"\s+", " ", text).strip()

    def evaluate(self, values: Sequence[Decimal]) -> Decimal | None:
        """The result with ``values`` for the terms (in order); None on a zero divisor."""
        k = 0
        out: list[Decimal] = []
        ops: list[str] = []

        def apply() -> None:
            op = ops.pop()
            b, a = out.pop(), out.pop()
            out.append(
                a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
            )

        try:
            with localcontext() as ctx:
                ctx.prec = 60
                for t in self.tokens:
                    if isinstance(t, Term):
                        out.append(values[k])
                        k += 1
                    elif t == "(":
                        ops.append(t)
                    elif t == ")":
                        while ops[-1] != "(":
                            apply()
                        ops.pop()
                    else:
                        while ops and ops[-1] != "(" and _PRECEDENCE[ops[-1]] >= _PRECEDENCE[t]:
                            apply()
                        ops.append(t)
                while ops:
                    apply()
                return out[0]
        except (DivisionByZero, InvalidOperation, ZeroDivisionError):
            return None


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of each token; citations attach to the figure before them."""
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind == "space":
            continue
        out.append((kind, m.group()))
    return out


def _well_formed(run: list[tuple[str, str]]) -> list[Term | str] | None:
    """The run as a calculation (a term, then operator and term in turn, parentheses balanced),
    or None."""
    tokens: list[Term | str] = []
    depth = 0
    want_term = True
    for kind, text in run:
        if kind == "cite":
            if not tokens or not isinstance(tokens[-1], Term):
                return None
            n = int(re.findall(r"\d+", text)[0])
            tokens[-1] = Term(tokens[-1].figure, n)
            continue
        if want_term:
            if kind == "num":
                tokens.append(Term(text.strip()))
                want_term = False
            elif kind == "lp":
                tokens.append("(")
                depth += 1
            else:
                return None
        else:
            if kind == "op":
                op = _OPS.get(re.sub(r"\s+", " ", text.lower()).split(" ")[0])
                if op is None:  # a look-alike letter matched without case ("pluſ")
                    return None
                tokens.append(op)
                want_term = True
            elif kind == "rp" and depth > 0:
                tokens.append(")")
                depth -= 1
            else:
                return None
    if want_term or depth:
        return None
    return tokens


def _runs(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Stretches of figures, operators, parentheses and citations between other text."""
    runs: list[list[tuple[str, str]]] = [[]]
    for kind, text in tokens:
        if kind == "other":
            runs.append([])
        else:
            runs[-1].append((kind, text))
    return [r for r in runs if r]


def _longest(run: list[tuple[str, str]]) -> list[Term | str] | None:
    """The longest well-formed calculation inside ``run`` with at least one operator."""
    best: list[Term | str] | None = None
    span = 0  # the raw tokens ``best`` spans (citations included)
    n = len(run)
    for i in range(n):
        # a calculation of MAX_TERMS figures spans at most this many tokens: the search stays
        # linear in a long reply, whatever the model was led to write
        for j in range(min(n, i + _MAX_SPAN), i, -1):
            if best is not None and j - i <= span:
                break
            calc = _well_formed(run[i:j])
            if calc is not None and any(isinstance(t, str) and t not in "()" for t in calc):
                best, span = calc, j - i
                break
    return best


_HUNDRED = re.compile(r"^100(?:\.0+)?\s?%?$")


def read(text: str) -> Calculation | None:
    """The first calculation in ``text`` of two to ``MAX_TERMS`` figures: "(21,213 - 19,604) /
    19,604 * 100%" reads as (21,213 - 19,604) / 19,604, a percentage. None when it holds none.
    What follows an "=" or "≈" is the model's result and not read."""
    for run in _runs(_tokens(text[:4000].replace("≈", "=").replace("\n", " = "))):
        calc = _longest(run)
        if calc is None:
            continue
        percent = False
        # a final "× 100" (or "* 100%") turns the fraction into a percentage
        if (
            len(calc) >= 3
            and calc[-2] == "*"
            and isinstance(calc[-1], Term)
            and _HUNDRED.match(calc[-1].figure)
        ):
            calc = calc[:-2]
            percent = True
        while calc[0] == "(" and calc[-1] == ")" and _balanced_inside(calc[1:-1]):
            calc = calc[1:-1]
        terms = [t for t in calc if isinstance(t, Term)]
        if 2 <= len(terms) <= MAX_TERMS:
            return Calculation(tuple(calc), percent)
    return None


def _balanced_inside(tokens: list[Term | str]) -> bool:
    depth = 0
    for t in tokens:
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
