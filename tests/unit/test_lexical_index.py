"""The BM25 side on a real tantivy index: the hand-built queries (common-terms split included)
score as tantivy's own query parser does, and the split falls back when it would lose hits."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.lexical_index import LexicalDoc, LexicalIndex

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> LexicalIndex:
    """200 chunks: "protein" in every one (common), "kinase" in 30, "zebrafish" in 3; chunk 7
    says "protein" many times and nothing rarer."""
    directory = tmp_path_factory.mktemp("lexical")
    writer = LexicalIndex(directory, writable=True)
    docs = []
    for i in range(200):
        words = ["protein"] * (12 if i == 7 else 1) + ["filler", f"word{i}"]
        if i % 7 == 1:
            words.append("kinase")
        if i in (10, 20, 30):
            words.append("zebrafish")
        document = "first" if i < 100 else "more"
        docs.append(LexicalDoc(i + 1, document, " ".join(words), f"title {i}"))
    writer.replace_document("first", docs[:100])
    writer.replace_document("more", docs[100:])
    return LexicalIndex(directory)


def parsed(index: LexicalIndex, text: str, k: int, title_boost: float = 0.0):
    """The same search through tantivy's query parser (the reference scores)."""
    tantivy_index = index._index
    fields = ["body", "title"] if title_boost > 0 else ["body"]
    boosts = {"title": title_boost} if title_boost > 0 else None
    query = tantivy_index.parse_query_lenient(text, fields, field_boosts=boosts)[0]
    searcher = tantivy_index.searcher()
    hits = searcher.search(query, k).hits
    ids = searcher.fast_field_values("chunk_id", [a for _, a in hits])
    return [(int(i), round(s, 5)) for (s, _), i in zip(hits, ids, strict=True)]


def rounded(hits: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(i, round(s, 5)) for i, s in hits]


@pytest.mark.parametrize("title_boost", [0.0, 2.0])
@pytest.mark.parametrize("text", ["kinase protein", "zebrafish kinase kinase protein title"])
def test_the_plain_query_scores_as_the_parser_does(
    index: LexicalIndex, text: str, title_boost: float
) -> None:
    got = rounded(index.search(text, 20, title_boost, common_df=1.0))
    assert got == parsed(index, text, 20, title_boost)
    assert len(got) == 20


def test_common_terms_only_add_to_chunks_that_match_a_rare_term(index: LexicalIndex) -> None:
    # "protein" is in every chunk: with it common, chunk 7 (twelve "protein"s, no "kinase")
    # is no candidate, and every kinase chunk keeps the score the full query gives it
    full = dict(rounded(index.search("kinase protein", 200, common_df=1.0)))
    split = rounded(index.search("kinase protein", 10, common_df=0.5))
    kinase_chunks = {i + 1 for i in range(200) if i % 7 == 1}
    assert len(split) == 10
    assert {i for i, _ in split} <= kinase_chunks
    assert all(full[i] == s for i, s in split)
    assert [s for _, s in split] == sorted(full[i] for i in kinase_chunks)[::-1][:10]
    assert 8 not in {i for i, _ in split}  # chunk 7 (id 8) is a candidate of the full query
    assert 8 in full


def test_too_few_rare_matches_fall_back_to_the_full_query(index: LexicalIndex) -> None:
    # "zebrafish" matches 3 chunks: asking for 10 runs the plain query, which fills the rest
    # with protein-only chunks
    got = rounded(index.search("zebrafish protein", 10, common_df=0.5))
    assert got == parsed(index, "zebrafish protein", 10)
    assert {11, 21, 31} <= {i for i, _ in got}


def test_only_common_terms_run_the_plain_query(index: LexicalIndex) -> None:
    got = rounded(index.search("protein filler", 5, common_df=0.5))
    assert got == parsed(index, "protein filler", 5)
    assert len(got) == 5


def test_document_filter_holds_on_both_paths(index: LexicalIndex) -> None:
    for df in (0.5, 1.0):
        got = index.search("kinase protein", 50, document_ids=["more"], common_df=df)
        assert got and all(i > 100 for i, _ in got)


def test_stop_words_alone_find_nothing(index: LexicalIndex) -> None:
    assert index.search("the of and", 5) == []
    assert index.search("", 5) == []


def test_a_missing_index_finds_nothing(tmp_path: Path) -> None:
    assert LexicalIndex(tmp_path).search("protein", 5) == []


def test_a_chunks_title_is_its_documents_label_and_its_body_carries_the_heading() -> None:
    from retrieval.indexer import lexical_doc

    doc = lexical_doc(7, "d1", "2023 Q1 INTC.pdf", "R&D spending rose.", "Results > Costs")
    assert doc.title == "2023 Q1 INTC"  # the heading stays out of the boosted short field
    assert doc.body == "Results > Costs\nR&D spending rose."
    assert lexical_doc(8, "d2", "4983.md", "Text.", "A paper title").title == ""


def test_empty_titles_leave_the_body_scores_as_they_are(tmp_path: Path) -> None:
    """The default title boost changes nothing where documents have no label (SciFact's ids)."""
    writer = LexicalIndex(tmp_path, writable=True)
    docs = [
        LexicalDoc(i + 1, "d", f"protein kinase filler word{i} " + "zebrafish " * (i % 3), "")
        for i in range(50)
    ]
    writer.replace_document("d", docs)
    index = LexicalIndex(tmp_path)
    for text in ("zebrafish kinase", "protein word7", "filler"):
        for common_df in (1.0, 0.05):
            plain = index.search(text, 10, title_boost=0.0, common_df=common_df)
            boosted = index.search(text, 10, title_boost=2.0, common_df=common_df)
            assert [i for i, _ in plain] == [i for i, _ in boosted]
            assert [s for _, s in plain] == pytest.approx([s for _, s in boosted], abs=1e-5)
