"""Whether the passages found can answer a question at all: the specific things the question names
(years and other figures it states, proper names) must each be mentioned by some passage. A
question about "NVIDIA's Tokyo office" over passages that never say "Tokyo" is refused before any
model sees it; the passages may still be about the right company, which is why the relevance gate
lets such a question through.

Pure logic, no I/O: ``named_terms`` reads the question, ``missing_terms`` checks the passages (and,
given a ``vocabulary`` of the whole collection, the question's content words)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

# A token: a word (with inner apostrophes, hyphens, dots or "&"), a number (with thousands
# separators and a decimal part) or a letter-digit compound such as "10-Q", "Q3", "H100".
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9&'’.,\-]*")
_POSSESSIVE = re.compile(r"['’]s?$")
_INTEGER = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
_TITLE = re.compile(r"[A-Z][a-z]+(?:-[A-Z]?[a-z]+)*")
# a name written in camel case: "iPhone", "eBay", "PlayStation", "McDonald"
_CAMEL = re.compile(r"[a-z]?[A-Z][a-z]+(?:[A-Z][a-z]+)*")
_ACRONYM = re.compile(r"[A-Z][A-Za-z&]*")
_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MONTHS = _words(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
DAYS = _words("monday tuesday wednesday thursday friday saturday sunday")
# Words that are capitalized for reasons other than naming something: how a question or a clause
# opens, or a polite or generic word written in Title Case.
COMMON = _words(
    """a an the and or but nor so yet if then else also as at by for from in into of off on onto
    out over per to up upon via with within without about above after against along among around
    before behind below beneath beside besides between beyond during except inside near since
    through throughout toward towards under until unlike
    what which who whom whose when where why how whether
    is are was were be been being am do does did done doing has have had having can could may
    might must shall should will would
    i me my mine we us our ours you your yours he him his she her hers it its they them their
    theirs this that these those there here such each every all any both either neither few
    many much more most less least other another some none no not only own same than too very
    just please list give tell show describe explain summarize summarise outline analyze analyse
    compare comparing examine assess identify discuss provide state name find calculate compute
    based according regarding considering given including excluding overall total
    yes ok okay hello hi thanks thank dear
    q fy ytd inc corp co ltd llc plc company companies"""
)
# Words that say how to answer or what kind of thing is asked, not what it is about: a question
# may use them though no passage does.
STOPWORDS = COMMON | _words(
    """again already always among amount amounts answer approximately around average
    change changed changes compared comparison current currently data detail details
    difference different does during effect effects example figure figures following full
    further generally happen happened high higher highest important include included
    increase increased kind last latest level levels like likely long low lower lowest main
    major mentioned most much number numbers often part particular particularly people percent
    percentage period periods point possible previous previously prior quarter quarterly
    quarters rate recent recently related report reported reporting reports respectively
    significant similar since specific specifically still term terms time times total trend
    trends type types usually value values various versus well year years
    document documents passage passages source sources information text
    affect affects drive drives explain imply implies indicate indicates influence influences
    mean means reflect reflects relate relates suggest suggests correlate correlates
    margin margins ratio ratios growth grow proportion proportions share shares breakdown sum
    split mix multiple multiples coverage leverage turnover payout yield yields ebitda ebit
    cagr yoy qoq"""
)
# A figure asked for may be computed from the passages, never written in them ("margin", "ratio",
# "growth"): such words are stopwords above, as ALL-CAPS metric names are no named terms.
# The vocabulary rule needs a collection whose words say what it is about: in a few passages, a
# word missing is a paraphrase more often than a subject the documents lack (3,906 chunks of 20
# 10-Q filings are well above this).
VOCABULARY_MIN_PASSAGES = 1000
# Three letters: "dog" is a subject; shorter words are abbreviations or parts of names.
MIN_CONTENT_WORD = 3
# Inflected verb forms ("gleaned", "partaken", "escalating") phrase a question; its subject is a
# noun, and a collection need not share the asker's verbs.
_VERB_FORM = re.compile(r"(?:ed|en|ing)$")


def _is_year(value: int) -> bool:
    return 1900 <= value <= 2099


def _tokens(question: str) -> list[tuple[str, bool, bool]]:
    """(token, whether it starts a sentence, whether punctuation or a possessive ends it) for each
    token of ``question``, trailing punctuation removed."""
    out: list[tuple[str, bool, bool]] = []
    first = True
    for m in _TOKEN.finditer(question):
        raw = m.group()
        token = raw.rstrip(".,'’-")
        following = raw[len(token) :] + question[m.end() : m.end() + 1]
        if token:
            ends = following.strip() != "" or bool(_POSSESSIVE.search(token))
            out.append((token, first, ends))
        first = any(ch in following for ch in ".?!:;")
    return out


def _numbers(token: str) -> list[str]:
    """The figures a token states: a plain integer of two digits or more ("2019", "1,500"), or the
    years of a range ("2022-2023"). Letter-digit compounds ("10-Q", "Q3", "FY23") and decimals
    name no figure an answer must repeat as written."""
    parts = [token]
    if re.fullmatch(r"\d{4}-\d{2}(?:\d{2})?", token):  # "2022-2023", "2022-23"
        start, end = token.split("-")
        parts = [start, end if len(end) == 4 else start[:2] + end]
    out = []
    for part in parts:
        if not _INTEGER.fullmatch(part):
            return []
        if sum(ch.isdigit() for ch in part) >= 2:
            out.append(part)
    return out


def _name_word(token: str) -> str | None:
    """The word without its possessive when it is a proper name (Title Case or camel case, not
    ALL CAPS, not a common or calendar word); None otherwise."""
    word = _POSSESSIVE.sub("", token) if re.search(r"['’]s?$", token) else token
    if not (_TITLE.fullmatch(word) or _CAMEL.fullmatch(word)):
        return None
    lower = word.lower()
    if lower in COMMON or lower in MONTHS or lower.removesuffix("s") in DAYS:
        return None
    return word


def _acronyms(question: str) -> set[str]:
    """The ALL-CAPS words of the question ("AWS", "R&D"), letters only."""
    out = set()
    for m in _TOKEN.finditer(question):
        word = _POSSESSIVE.sub("", m.group().rstrip(".,"))
        if _ACRONYM.fullmatch(word) and sum(ch.isupper() for ch in word) >= 2:
            upper = "".join(ch for ch in word if ch.isupper())
            if sum(ch.islower() for ch in word) <= 1:
                out.add(upper)
    return out


def named_terms(question: str) -> list[str]:
    """The specific things ``question`` names, which an answer must be about: the years and other
    whole numbers of two digits or more it states, and its proper names (a Title Case word or a run
    of them, possessive "'s" removed), in order, each once. Not named terms: the first word of a
    sentence (unless possessive), question and common words, months and days, ALL-CAPS acronyms
    (a metric such as EBITDA is often only computed, never written out), letter-digit compounds
    ("10-Q", "Q3") and a run whose initials spell an acronym the question also uses ("Amazon Web
    Services" beside "AWS")."""
    terms: list[str] = []
    run: list[str] = []
    acronyms = _acronyms(question)

    def close() -> None:
        if run:
            name = " ".join(run)
            initials = "".join(w[0] for w in run).upper()
            if not (len(run) > 1 and initials in acronyms):
                terms.append(name)
            run.clear()

    for token, first, ends in _tokens(question):
        numbers = _numbers(token)
        if numbers:
            close()
            terms.extend(numbers)
            continue
        word = _name_word(token)
        possessive = bool(re.search(r"['’]s?$", token)) and word is not None
        if word is None or (first and not possessive):
            close()
            continue
        run.append(word)
        if ends:
            close()
    close()
    return list(dict.fromkeys(terms))


def _number_pattern(term: str) -> re.Pattern[str]:
    digits = term.replace(",", "")
    if len(digits) == 4 and _is_year(int(digits)):
        # a year is never written "2,030"; a fiscal year also goes by its two digits ("FY30")
        body = rf"{digits}|FY\s?['’]?{digits[2:]}"
    else:  # a figure with or without its thousands separators
        forms = {re.escape(digits), re.escape(f"{int(digits):,}")}
        body = "|".join(sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w.,])(?:{body})(?![\w]|[.,]\d)", re.IGNORECASE)


def _word_pattern(word: str) -> re.Pattern[str]:
    """The word, whole, in any case, singular or plural ("Sundays" finds "Sunday" too)."""
    stem = word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
    return re.compile(rf"(?<!\w){re.escape(stem)}(?:s|es)?(?!\w)", re.IGNORECASE)


def _mentioned(term: str, texts: Sequence[str]) -> bool:
    """Whether one of ``texts`` mentions ``term``: the number in any of its written forms, or every
    word of the name (case-insensitive, whole words) in one text."""
    if term[0].isdigit():
        pattern = _number_pattern(term)
        return any(pattern.search(t) for t in texts)
    patterns = [_word_pattern(w) for w in term.split()]
    return any(all(p.search(t) for p in patterns) for t in texts)


def content_words(question: str) -> list[str]:
    """The question's lower-case words of ``MIN_CONTENT_WORD`` letters or more that are neither
    stopwords nor inflected verb forms, in order, each once: what the question is about, where it
    names no proper name."""
    words = []
    for m in _TOKEN.finditer(question):
        token = _POSSESSIVE.sub("", m.group().rstrip(".,'’-"))
        if not _WORD.fullmatch(token):  # lower-case words only: names and figures are above
            continue
        if len(token) < MIN_CONTENT_WORD or token in STOPWORDS or _VERB_FORM.search(token):
            continue
        words.append(token)
    return list(dict.fromkeys(words))


def missing_terms(
    question: str,
    passage_texts: Iterable[str],
    vocabulary: Callable[[str], bool] | None = None,
) -> list[str]:
    """The terms of ``named_terms(question)`` that no passage text mentions, then, when
    ``vocabulary`` is given (whether the whole collection has a word at all), the content words
    of the question the collection never uses: either kind makes the question unanswerable from
    these passages.

    :param passage_texts: what the generator would be given (a passage's text, heading, document
        name).
    """
    texts = list(passage_texts)
    missing = [t for t in named_terms(question) if not _mentioned(t, texts)]
    if vocabulary is not None:
        missing += [w for w in content_words(question) if w not in missing and not vocabulary(w)]
    return missing
