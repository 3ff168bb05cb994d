import pytest

from generation.citations import (
    attach_missing,
    check_claims,
    cited_numbers,
    page_at,
    resolve,
    sentence_spans,
    strip_invalid,
)
from generation.prompt import (
    INSTRUCTIONS,
    LAYOUTS,
    NOT_IN_DOCUMENTS,
    build_messages,
    format_passage,
    pages_label,
    says_not_answered,
    select_passages,
    without_example,
)
from generation.rag import Answer, answer
from retrieval.types import ScoredChunk

pytestmark = pytest.mark.unit


def passage(i: int, text: str = "text", page: int | None = 1) -> ScoredChunk:
    return ScoredChunk(i, f"doc{i}", f"file{i}.pdf", "c", text, page, None, 1.0 / (i + 1))


def test_prompt_numbers_passages_with_name_and_page_in_one_user_message():
    ps = [passage(1, "X is one."), passage(2, "Y.", page=None)]
    msgs = build_messages("What is X?", ps, LAYOUTS["standard"])
    assert len(msgs) == 1 and msgs[0]["role"] == "user"
    body = msgs[0]["content"]
    assert "[1] (from file1.pdf, page 1)\nX is one." in body
    assert "[2] (from file2.pdf)\nY." in body
    assert NOT_IN_DOCUMENTS in body
    assert body.startswith("Question: What is X?") and body.rstrip().endswith(
        "Question: What is X?"
    )
    # the rules first (the same prefix for every question), the question last
    body = build_messages("What is X?", ps, LAYOUTS["rules_first"])[0]["content"]
    assert body.startswith(INSTRUCTIONS) and body.rstrip().endswith("Question: What is X?")
    assert body.index("[1] (from") < body.index("[2] (from") < body.index("Question:")
    assert build_messages("Other?", ps, LAYOUTS["rules_first"])[0]["content"].startswith(
        INSTRUCTIONS
    )
    body = build_messages("What is X?", ps, LAYOUTS["best_last"])[0]["content"]
    assert body.index("[2] (from") < body.index("[1] (from")  # still [1], placed last
    # the rules first, the question on both sides of the sources
    body = build_messages("What is X?", ps, LAYOUTS["rules_question_first"])[0]["content"]
    assert body.startswith(INSTRUCTIONS) and body.rstrip().endswith("Question: What is X?")
    assert body.index("Question:") < body.index("[1] (from") < body.rindex("Question:")


def test_passage_names_its_page_range_and_heading_path():
    p = ScoredChunk(1, "d", "report.pdf", "c", "Revenue rose.", 3, "Results > Revenue", 1.0, 4)
    assert (
        format_passage(1, p) == "[1] (from report.pdf, pages 3-4; Results > Revenue)\nRevenue rose."
    )
    assert pages_label(3, 3) == "page 3" and pages_label(None, 2) == ""


def test_select_passages_drops_whole_passages_by_rank():
    ps = [passage(1, "a" * 300), passage(2, "b" * 3000), passage(3, "c" * 300)]
    kept = select_passages(ps, budget=350, count_tokens=len)
    assert [p.chunk_id for p in kept] == [1]
    kept = select_passages(ps, budget=900, count_tokens=len)
    assert [p.chunk_id for p in kept] == [1, 3]  # 2 does not fit; 3 still does
    assert all(p.text in ("a" * 300, "c" * 300) for p in kept)


def test_cited_numbers_forms():
    assert cited_numbers("A [2]. B [1, 3]. C [2][4].") == [2, 1, 3, 4]
    assert cited_numbers("no markers") == []


def test_resolve_drops_markers_without_passage():
    ps = [passage(1), passage(2)]
    good, bad = resolve("Claim [1]. Other [5]. More [2, 7].", ps)
    assert [c.number for c in good] == [1, 2]
    assert good[0].document_name == "file1.pdf" and good[0].page == 1
    assert bad == [5, 7]
    assert (
        strip_invalid("Claim [1]. Other [5]. More [2, 7].", bad) == "Claim [1]. Other . More [2]."
    )


def test_attach_missing_marks_sentences_taken_from_one_passage():
    ps = [
        passage(1, "The widget count is 34 on page two."),
        passage(2, "Freedonia's capital is Fredville."),
    ]
    text, inferred = attach_missing(
        "The widget count is 34. Fredville is the capital of Freedonia.", ps
    )
    assert text == "The widget count is 34 [1]. Fredville is the capital of Freedonia [2]."
    assert inferred == [1, 2]


def test_attach_missing_leaves_marked_and_unsupported_sentences_alone():
    ps = [passage(1, "The widget count is 34.")]
    text, inferred = attach_missing("Widgets number 34 [1]. Bananas grow on trees.", ps)
    assert text == "Widgets number 34 [1]. Bananas grow on trees."
    assert inferred == []


def test_attach_missing_does_not_split_decimals():
    ps = [passage(1, "Net sales were $117.2 billion in the quarter.")]
    text, _ = attach_missing("Net sales were $117.2 billion in the quarter.\nThanks", ps)
    assert text == "Net sales were $117.2 billion in the quarter [1].\nThanks"


def test_check_claims_spans_and_flags_unsupported_sentences():
    ps = [
        passage(
            1, "Revenue grew in 2023. Net sales were $117.2 billion in the quarter. Costs fell."
        ),
        passage(2, "The office opens at 8 am on weekdays."),
    ]
    text = "Net sales were $117.2 billion in the quarter [1]. The office closes on Sundays [2]. Hi."
    citations, _ = resolve(text, ps)
    checked, claims = check_claims(text, citations)
    c1, c2 = checked
    assert c1.supported and c1.support == 1.0
    a, b = c1.span
    assert ps[0].text[a:b] == "Net sales were $117.2 billion in the quarter."
    assert not c2.supported and c2.support < 0.5  # "closes", "sundays" are not in passage 2
    assert [(c.cited, c.supported) for c in claims] == [([1], True), ([2], False), ([], False)]
    assert text[claims[1].start : claims[1].end] == "The office closes on Sundays [2]."


def test_check_claims_short_cited_sentence_counts_as_supported():
    ps = [passage(1, "The vote passed.")]
    text = "Yes [1]."
    checked, claims = check_claims(text, resolve(text, ps)[0])
    assert claims[0].supported and checked[0].supported


def test_sentence_spans_skip_whitespace_and_keep_decimals():
    text = "  One is $3.4 here.  Two!\n\nThree"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["One is $3.4 here.", "Two!", "Three"]


class _Stub:
    """A generator that streams a fixed reply (pure logic: what answer() makes of it)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def token_counter(self, fallback):  # type: ignore[no-untyped-def]
        return fallback

    def observe_prompt(self, tokens: int, seconds: float) -> None:
        pass

    def stream_chat(self, messages, max_tokens=384, grammar=None):  # type: ignore[no-untyped-def]
        words = self.reply.split(" ")
        yield from (w if i == 0 else " " + w for i, w in enumerate(words))


def _final(reply: str) -> Answer:
    ps = [passage(1, "Net sales were $117.2 billion in the quarter.")]
    *_, last = answer("What were net sales?", ps, _Stub(reply))  # type: ignore[arg-type]
    assert isinstance(last, Answer)
    return last


def test_paraphrased_refusals_count_as_abstaining():
    assert says_not_answered("The sources do not answer this question.")
    assert says_not_answered("This is not mentioned in the documents.")
    # read on sec-10q answers that were counted as answers
    assert says_not_answered("The sources do not provide this information.")
    assert says_not_answered("The correlation is not provided in the given sources.")
    assert says_not_answered("It is not explicitly stated in the sources.")
    assert not says_not_answered("Revenue was provided in the sources as $5 million [1].")
    assert not says_not_answered("Net sales were $117.2 billion [1].")
    assert _final("The sources do not answer this question.").abstained
    partial = _final("Net sales were $117.2 billion [1]. The documents do not mention 2021.")
    assert not partial.abstained and partial.citations


def test_a_repeated_example_sentence_is_not_an_answer():
    assert without_example("Paris is the capital of France [2].") == ""
    last = _final("Paris is the capital of France [2].")
    assert last.abstained and last.text.startswith(NOT_IN_DOCUMENTS) and last.citations == []


def test_a_citation_names_the_page_of_its_supporting_sentence():
    text = "The ferry leaves at nine.\nIngrid Solberg keeps the lighthouse on the point."
    p = ScoredChunk(1, "d", "report.pdf", "c", text, 1, None, 1.0, 2, ((26, 2),))
    good, _ = resolve("Ingrid Solberg keeps the lighthouse [1].", [p])
    checked, _ = check_claims("Ingrid Solberg keeps the lighthouse [1].", good)
    assert checked[0].page == 2 and checked[0].page_end == 2
    assert page_at(1, ((26, 2),), 3) == 1 and page_at(1, (), 40) == 1


def test_attach_missing_takes_a_marker_after_the_full_stop_as_the_sentences_own():
    ps = [passage(1, "The ferry leaves the north pier at 07:40 every weekday.")]
    text, inferred = attach_missing(
        "The ferry leaves the north pier at 07:40 every weekday. [1]", ps
    )
    assert text == "The ferry leaves the north pier at 07:40 every weekday. [1]"
    assert inferred == []


def test_closest_evidence_picks_the_sentence_that_holds_the_question() -> None:
    from generation.citations import closest_evidence, evidence_text
    from retrieval.types import ScoredChunk

    def chunk(n: int, text: str, page: int | None = None) -> ScoredChunk:
        return ScoredChunk(n, f"d{n}", f"doc{n}.pdf", "c", text, page, None, 1.0)

    passages = [
        chunk(1, "Revenue grew. The board appointed Maria Ortiz as chief executive in May.", 4),
        chunk(2, "Unrelated text about weather."),
        chunk(3, "Ortiz previously led the chief operations team at Fenwick."),
    ]
    got = closest_evidence("Who was appointed chief executive in May?", passages)
    assert [(e.number, e.sentence) for e in got][0] == (
        1,
        "The board appointed Maria Ortiz as chief executive in May.",
    )
    assert all(e.number != 2 for e in got)
    assert "doc1.pdf, page 4" in evidence_text(got)
    assert closest_evidence("the of a", passages) == []


def test_every_prompt_layout_holds_the_passages_and_the_question():
    ps = [passage(1, "X is one.")]
    for layout in LAYOUTS.values():
        body = build_messages("What is X?", ps, layout)[0]["content"]
        assert "[1] (from file1.pdf, page 1)\nX is one." in body and "What is X?" in body


def test_a_table_passage_keeps_its_header_with_every_row():
    table = (
        "Net sales by segment (in millions)\n| Segment | Q3 2023 | Q3 2022 |\n|---|---|---|\n"
        "| Americas | 35,383 | 37,472 |\n| Europe | 20,205 | 19,287 |"
    )
    body = build_messages("Which segment sold most?", [passage(1, table)])[0]["content"]
    assert table in body


def test_second_look_keeps_a_quote_that_holds_what_was_asked() -> None:
    from generation.citations import uncovered
    from generation.second_look import accept

    harrow = passage(
        1,
        "The Harrow Valley cooperative counts 212 member farms. The cooperative's cold store "
        "in Lenby holds 4,800 tonnes of apples.",
    )
    bridge = passage(2, "The Kestrel bridge opened to traffic in 1987. It spans 640 metres.")
    copied = "[1] (from file1.pdf, page 1)\n" + harrow.text
    got = accept("How many tonnes of apples does the cold store in Lenby hold?", copied, [harrow])
    # the copy cut to its sentences that bear on the question, marked with their passage
    assert got is not None and got.startswith("The cooperative's cold store in Lenby holds 4,800")
    assert got.endswith("[1].")
    # what the question asks about is not in the quote: the refusal stands
    assert uncovered("How many tonnes of pears does the store hold?", [harrow.text]) == {"pears"}
    assert uncovered("When does the ferry leave? Who approved it?", ["It leaves; approves."]) == {
        "ferry"
    }
    assert accept("How many tonnes of pears does the cold store hold?", copied, [harrow]) is None
    assert (
        accept("Who designed the Kestrel bridge?", bridge.text + " [2]", [harrow, bridge]) is None
    )
    # the kind of thing asked for must be there: a figure, a time, a name
    assert accept("When did the Kestrel bridge open?", bridge.text, [harrow, bridge]) is not None
    market = passage(1, "The Kestrel bridge opened to market traders.")
    assert accept("When did the Kestrel bridge open?", market.text, [market]) is None
    march = passage(1, "The Kestrel bridge opened in March.")
    assert accept("When did the Kestrel bridge open?", march.text, [march]) is not None
    no_figure = passage(1, "The cold store in Lenby holds apples of the cooperative.")
    assert (
        accept("How many apples does the cold store in Lenby hold?", no_figure.text, [no_figure])
        is None
    )
    # a marker that points at no passage, or a quote without the question's subject, is not one
    bad_marker = "It opened to traffic in 1987 [7]."
    assert accept("When did the Kestrel bridge open?", bad_marker, [bridge]) is None
    assert accept("When did the Kestrel bridge open?", "It opened in 1990 [1].", [bridge]) is None


def test_only_an_opening_like_a_refusals_is_held_back() -> None:
    from generation.rag import _stream

    def run(pieces: list[str]) -> tuple[list[str], tuple[str, bool]]:
        gen = _stream(iter(pieces), hold=True, first=lambda: None)
        out: list[str] = []
        while True:
            try:
                out.append(next(gen).text)
            except StopIteration as stop:
                return out, stop.value

    # an answer streams from its second piece on ("The" may still begin a refusal)
    out, (text, shown) = run(["The", " cold", " store", " holds 4,800 tonnes [1]."])
    assert out == ["The cold", " store", " holds 4,800 tonnes [1]."] and shown
    out, (text, shown) = run(["The", " documents", " do not answer", " this question."])
    assert out == [] and not shown and text == "The documents do not answer this question."
    # a refusal that goes on to answer with a citation is shown whole
    out, (_, shown) = run(["The sources do not say.", " But [1] gives 5 days."])
    assert out == ["The sources do not say. But [1] gives 5 days."] and shown


def test_attach_missing_marks_a_figures_sentence_with_the_passage_that_states_the_figure():
    ps = [
        passage(1, "Apple's net sales rose in the quarter; services grew fastest of all segments."),
        passage(2, "| | Three Months Ended July 1, 2023 |\n| Gross margin | 36,413 |"),
    ]
    # too few of its words are in either passage for the plain rule, but only [2] states 36,413
    text, inferred = attach_missing("The gross margin for Apple in 2023 was $36,413 million.", ps)
    assert text.endswith("[2].") and inferred == [2]
    citations, _ = resolve(text, ps)
    checked, claims = check_claims(text, citations)
    assert claims[0].supported and checked[0].supported
    # a figure no passage states: the sentence stays unmarked
    text, inferred = attach_missing("The gross margin for Apple was $99,999 million.", ps)
    assert inferred == [] and "[" not in text
