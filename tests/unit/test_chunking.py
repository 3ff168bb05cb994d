import pytest

from ingest.chunking import chunk_blocks, document_text, split_sentences
from ingest.types import Block

pytestmark = pytest.mark.unit


def words(text: str) -> int:
    return len(text.split())


def test_a_section_past_the_floor_starts_a_chunk_with_its_heading_path_and_page():
    intro = " ".join(f"Intro sentence {i} is here." for i in range(6))  # 30 words
    blocks = [
        Block("Annual report", "title", page=1, depth=0),
        Block(intro, "text", page=1),
        Block("Risks", "title", page=2, depth=1),
        Block("FX exposure is large. " * 6, "text", page=2),  # 24 words
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=50, overlap_tokens=0, min_tokens=20)
    assert [c.heading for c in chunks] == ["Annual report", "Annual report > Risks"]
    assert [c.page for c in chunks] == [1, 2]
    assert chunks[1].text.startswith("Risks\n")  # the heading opens its section's chunk
    assert "FX exposure" in chunks[1].text and "Intro" not in chunks[1].text


def test_a_short_last_section_joins_the_chunk_before_it():
    intro = " ".join(f"Intro sentence {i} is here." for i in range(6))  # 30 words
    blocks = [
        Block("Annual report", "title", page=1, depth=0),
        Block(intro, "text", page=1),
        Block("Signatures", "title", page=2, depth=1),
        Block("Jane Doe, CFO.", "text", page=2),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=50, overlap_tokens=0, min_tokens=20)
    assert len(chunks) == 1
    assert chunks[0].text.endswith("Signatures\nJane Doe, CFO.")
    assert (chunks[0].page, chunks[0].page_end) == (1, 2)


def test_small_sections_pack_together_up_to_the_floor():
    blocks = []
    for i in range(12):  # a statement's row labels, each taken for a title by the parser
        blocks += [Block(f"Label {i}", "title", page=1 + i // 6), Block(f"Value {i}.", "text")]
    chunks = chunk_blocks(blocks, words, max_tokens=40, overlap_tokens=0, min_tokens=20)
    assert len(chunks) == 2  # 48 words: not 12 chunks of 4
    assert all(words(c.text) >= 20 for c in chunks)
    assert all(not c.text.rstrip().split("\n")[-1].startswith("Label") for c in chunks)
    assert (chunks[1].page, chunks[1].page_end) == (1, 2)  # the pages it spans


def test_a_heading_never_ends_a_chunk():
    body = " ".join(f"Body sentence {i} runs on." for i in range(7))  # 35 words
    blocks = [
        Block("Part one", "title"),
        Block(body, "text"),
        Block("Part two", "title"),
        Block("Short tail here.", "text"),
        Block("Part three", "title"),
        Block(body, "text"),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=40, overlap_tokens=0, min_tokens=10)
    for c in chunks:
        assert c.text.split("\n")[-1] not in ("Part one", "Part two", "Part three")
    assert chunks[-1].text.startswith("Part three")


def test_false_titles_are_read_as_what_they_are():
    blocks = [
        Block("Gross profit", "title"),  # a row label followed by its figures
        Block("9,462 2,915", "title"),
        Block("• First point of a list", "title"),
        Block("Revenue by segment, in millions of dollars, for the quarters shown:", "title"),
        Block("Overview", "title"),
        Block("Real body text.", "text"),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=100, overlap_tokens=0)
    assert len(chunks) == 1
    assert chunks[0].heading is None  # none of the false titles made a section
    assert chunks[0].text.startswith("Gross profit\n9,462 2,915")
    assert chunks[0].element_type == "mixed"


def test_a_long_table_is_split_by_rows_with_its_header_and_caption():
    rows = "\n".join(f"| Item {i} | {i * 100} | {i * 90} |" for i in range(30))
    table = f"| | 2023 | 2022 |\n|---|---|---|\n{rows}"
    blocks = [
        Block("Intro paragraph with enough words to stand.", "text"),
        Block("Table 1: Sales by item", "text"),
        Block(table, "table"),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=60, overlap_tokens=0)
    pieces = [c for c in chunks if "| Item" in c.text]
    assert len(pieces) > 1
    assert pieces[0].text.startswith("Table 1: Sales by item\n| | 2023 | 2022 |")
    for p in pieces:
        assert "| | 2023 | 2022 |\n|---|---|---|" in p.text
    assert sum(p.text.count("| Item") for p in pieces) == 30  # every row once, each whole


def test_budget_respected_and_split_at_sentences():
    sentences = [f"Sentence number {i} has six words." for i in range(40)]
    blocks = [Block(" ".join(sentences), "text", page=3)]
    chunks = chunk_blocks(blocks, words, max_tokens=30, overlap_tokens=0)
    assert len(chunks) > 1
    for c in chunks:
        assert words(c.text) <= 30
        assert c.text.rstrip().endswith(".")  # never cut inside a sentence
    joined = " ".join(c.text.replace("\n", " ") for c in chunks)
    assert joined.split() == " ".join(sentences).split()


def test_overlap_repeats_trailing_sentences():
    blocks = [Block(" ".join(f"Fact {i} is here." for i in range(30)), "text")]
    chunks = chunk_blocks(blocks, words, max_tokens=20, overlap_tokens=8)
    assert len(chunks) >= 2
    first, second = chunks[0].text.split("\n"), chunks[1].text.split("\n")
    carried = [s for s in second if s in first]
    assert carried and carried == first[-len(carried) :]  # the tail of one opens the next
    assert sum(words(s) for s in carried) <= 8


def test_spans_point_into_document_text():
    blocks = [Block("Title", "title"), Block("Alpha beta. Gamma delta.", "text", page=1)]
    text = document_text(blocks)
    for c in chunk_blocks(blocks, words, max_tokens=3, overlap_tokens=0):
        assert text[c.char_start : c.char_end].split() == c.text.split()


def test_overlong_sentence_falls_back_to_words():
    blocks = [Block(" ".join(["word"] * 100), "text")]
    chunks = chunk_blocks(blocks, words, max_tokens=10, overlap_tokens=0)
    assert all(words(c.text) <= 10 for c in chunks)
    assert sum(words(c.text) for c in chunks) == 100


def test_empty_blocks_make_no_chunks():
    assert chunk_blocks([Block("  ", "text")], words) == []


def test_split_sentences():
    text = "One. Two! Three? Four"
    assert [text[a:b] for a, b in split_sentences(text)] == ["One.", "Two!", "Three?", "Four"]


def test_code_blocks_split_at_line_ends():
    code = "\n".join(f"value_{i} = compute(alpha, beta); total += value_{i}" for i in range(30))
    blocks = [Block("Setup", "title", page=1), Block(code, "code", page=1)]
    chunks = chunk_blocks(blocks, words, max_tokens=40, overlap_tokens=0)
    text = document_text(blocks)
    lines = set(code.split("\n"))
    body = [c for c in chunks if c.element_type in ("code", "mixed")]
    assert len(body) > 3
    for c in body:
        assert words(c.text) <= 40
        for line in c.text.split("\n"):
            assert line in lines or line == "Setup"  # whole lines only
    seen = [ln for c in body for ln in text[c.char_start : c.char_end].split("\n") if ln in lines]
    assert seen == code.split("\n")  # every line once, in order


TITLE = "CONDENSED CONSOLIDATED STATEMENTS OF COMPREHENSIVE INCOME"


def test_the_title_of_a_long_table_is_its_pieces_heading_not_a_chunk_alone():
    rows = "\n".join(f"| Item {i} | {i * 100} | {i * 90} |" for i in range(40))
    table = f"| | 2023 | 2022 |\n|---|---|---|\n{rows}"
    blocks = [
        Block("Report", "title"),
        Block(" ".join(f"intro{i}" for i in range(55)) + ".", "text"),  # no room for the title
        Block(TITLE, "title", depth=1),
        Block(table, "table"),
    ]
    # each piece: header (8 words) + 6 rows (48) = 56 of 60: the six-word title does not fit
    chunks = chunk_blocks(blocks, words, max_tokens=60, overlap_tokens=0)
    assert all(c.text.strip() != TITLE for c in chunks)
    pieces = [c for c in chunks if "| Item" in c.text]
    assert len(pieces) == 7
    assert all(p.heading == f"Report > {TITLE}" for p in pieces)
    assert sum(p.text.count("| Item") for p in pieces) == 40
    # a title before a paragraph it cannot fit beside still stands alone (SciFact's paper
    # titles are worth it)
    long_text = " ".join(f"w{i}" for i in range(60)) + "."
    alone = chunk_blocks(
        [Block("A paper title", "title"), Block(long_text, "text")], words, max_tokens=60
    )
    assert [c.text for c in alone] == ["A paper title", long_text]


def test_a_section_heading_takes_the_first_sentences_of_a_paragraph_it_cannot_fit_beside():
    para = " ".join(f"Sentence {i} about supplier risk runs on here." for i in range(7))  # 56
    blocks = [
        Block("Report", "title"),
        Block(" ".join(f"intro{i}" for i in range(55)) + ".", "text"),
        Block("Our Supplier Relationships Subject Us to Risks", "title", depth=1),
        Block(para, "text", page=3),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=60, overlap_tokens=0)
    assert [c.text.split("\n")[0] for c in chunks][1:] == [
        "Our Supplier Relationships Subject Us to Risks",
        "Sentence 6 about supplier risk runs on here.",
    ]
    assert chunks[1].text.endswith("Sentence 5 about supplier risk runs on here.")
    assert all(words(c.text) <= 60 for c in chunks)
    assert chunks[2].heading == "Report > Our Supplier Relationships Subject Us to Risks"
    text = document_text(blocks)
    for c in chunks:
        assert text[c.char_start : c.char_end].split() == c.text.split()


def test_no_text_is_lost_whatever_the_shape():
    import random

    rng = random.Random(7)
    table = "| A | B |\n|---|---|\n" + "\n".join(f"| row {i} | {i} |" for i in range(40))
    kinds = ["title", "text", "text", "list", "table"]
    blocks = []
    for i in range(200):
        kind = rng.choice(kinds)
        if kind == "table":
            blocks.append(
                Block(table if rng.random() < 0.5 else "| A | B |\n|---|---|\n| x | 1 |", kind)
            )
        else:
            n = rng.choice([1, 2, 5, 30, 80])
            blocks.append(Block(" ".join(f"w{i}x{j}" for j in range(n)) + ".", kind))
    chunks = chunk_blocks(blocks, words, max_tokens=60, overlap_tokens=8, min_tokens=30)
    text = "\n".join(c.text for c in chunks) + "\n" + "\n".join(c.heading or "" for c in chunks)
    for b in blocks:
        for token in b.text.split():
            assert token in text, (b.kind, token)


def test_the_heading_path_keeps_the_top_and_the_nearest_levels():
    blocks = [
        Block(t, "title", depth=d) for d, t in enumerate(["Report", "Cover", "Part", "Risks"])
    ]
    blocks.append(Block("FX exposure is large.", "text"))
    chunks = chunk_blocks(blocks, words, max_tokens=50, overlap_tokens=0)
    assert chunks[-1].heading == "Report > Part > Risks"


def test_a_chunk_across_pages_marks_where_each_page_starts():
    blocks = [
        Block("Section 1", "title", page=1),
        Block("The ferry leaves at nine.", "text", page=1),
        Block("Section 2", "title", page=2),
        Block("Ingrid Solberg keeps the lighthouse.", "text", page=2),
    ]
    (chunk,) = chunk_blocks(blocks, words, max_tokens=100, overlap_tokens=0)
    assert (chunk.page, chunk.page_end) == (1, 2)
    ((offset, page),) = chunk.page_marks
    assert page == 2 and chunk.text[offset:].startswith("Section 2\nIngrid Solberg")
