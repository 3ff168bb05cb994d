import pytest

from ingest.chunking import chunk_blocks, document_text, split_sentences
from ingest.types import Block

pytestmark = pytest.mark.unit


def words(text: str) -> int:
    return len(text.split())


def test_title_starts_a_section_and_chunks_keep_heading_and_page():
    blocks = [
        Block("Annual report", "title", page=1, depth=0),
        Block("Intro text here.", "text", page=1),
        Block("Risks", "title", page=2, depth=1),
        Block("FX exposure is large.", "text", page=2),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=50, overlap_tokens=0)
    assert [c.heading for c in chunks] == ["Annual report", "Annual report > Risks"]
    assert [c.page for c in chunks] == [1, 2]
    assert "FX exposure" in chunks[1].text and "Intro" not in chunks[1].text


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
