import pytest

from ingest.chunking import chunk_blocks, document_text
from ingest.tables import html_to_rows, split_rows, to_markdown
from ingest.types import Block

pytestmark = pytest.mark.unit


def words(text: str) -> int:
    return len(text.split())


def test_html_table_becomes_markdown_with_spans_repeated():
    html = (
        "<table><tr><th>Region</th><th colspan='2'>Sales</th></tr>"
        "<tr><td>North</td><td>1 | 2</td><td> 30\n</td></tr><tr><td></td><td></td><td></td></tr>"
        "</table>"
    )
    rows = html_to_rows(html)
    assert rows[0] == ["Region", "Sales", "Sales"]
    md = to_markdown(rows)
    assert md.split("\n") == [
        "| Region | Sales | Sales |",
        "|---|---|---|",
        "| North | 1 \\| 2 | 30 |",
    ]


def test_empty_columns_and_rows_dropped():
    assert to_markdown([["a", "", "b"], ["1", None, "2"], ["", "", ""]]) == (
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert to_markdown([]) == ""


def test_long_table_split_by_rows_with_header_each_time():
    rows = [["Quarter", "Revenue", "Cost"]] + [[f"Q{i}", str(i * 10), str(i)] for i in range(40)]
    md = to_markdown(rows)
    pieces = split_rows(md, 40, words)
    assert len(pieces) > 3
    for text, a, b in pieces:
        assert text.startswith("| Quarter | Revenue | Cost |\n|---|---|---|\n")
        assert words(text) <= 40
        assert md[a:b] == text.split("\n", 2)[2]  # the span is the rows themselves
    bodies = [t.split("\n", 2)[2] for t, _, _ in pieces]
    assert "\n".join(bodies) == md.split("\n", 2)[2]  # every row once, in order


def test_small_table_packs_with_its_text_and_split_tables_keep_header():
    small = to_markdown([["Name", "Age"], ["Ada", "36"]])
    big = to_markdown([["Year", "Rainfall"]] + [[str(1900 + i), f"{i} mm"] for i in range(60)])
    blocks = [
        Block("Weather", "title", page=1),
        Block("Some prose before the table.", "text", page=1),
        Block(small, "table", page=1),
        Block("Prose after.", "text", page=2),
        Block("Rain", "title", page=2),
        Block(big, "table", page=3),
    ]
    chunks = chunk_blocks(blocks, words, max_tokens=50, overlap_tokens=10)
    text = document_text(blocks)
    first = chunks[0]
    assert first.heading == "Weather" and first.element_type == "mixed"
    assert first.text == f"Weather\nSome prose before the table.\n{small}\nProse after."
    pieces = [c for c in chunks if "| Year | Rainfall |" in c.text]
    assert len(pieces) > 2  # the title "Rain" travels in each piece's heading path
    rows = []
    for c in pieces:
        assert c.heading == "Rain" and words(c.text) <= 50  # both titles at depth 0
        assert "| Year | Rainfall |\n|---|---|" in c.text
        span = [ln for ln in text[c.char_start : c.char_end].split("\n") if ln]
        assert set(span) <= set(c.text.split("\n"))  # the span points at the chunk's own lines
        rows += [ln for ln in c.text.split("\n") if ln.startswith("| 19")]
    assert rows == big.split("\n")[2:]  # every row once, whole, in order


def test_pdf_rows_compacted_so_columns_line_up():
    from ingest.pdf_tables import compact_row

    assert compact_row(["Products", "$", "63,355", None, "$", "63,948", ""]) == [
        "Products",
        "$63,355",
        "$63,948",
    ]
    assert compact_row(["Services", "19,604", None, "17,486", None]) == [
        "Services",
        "19,604",
        "17,486",
    ]
    assert compact_row(["Margin", "(", "4.1", "%)", "12", "%"]) == ["Margin", "(4.1%)", "12%"]
    assert compact_row([None, "", " "]) == []


def test_mail_header_block():
    from ingest.mail import header_block

    block = header_block({"from": ["Ada <ada@x.org>"], "subject": "Survey", "date": "2026-03-03"})
    assert block is not None
    assert block.text == "From: Ada <ada@x.org>\nDate: 2026-03-03\nSubject: Survey"
    assert header_block({}) is None


def test_html_cells_spanning_rows_and_columns_keep_every_row_aligned():
    html = (
        "<table><tr><th rowspan='2'>Region</th><th colspan='2'>Sales</th></tr>"
        "<tr><th>Q1</th><th>Q2</th></tr>"
        "<tr><td rowspan='2'>North</td><td>1</td><td>2</td></tr>"
        "<tr><td>3</td><td>4</td></tr></table>"
    )
    assert html_to_rows(html) == [
        ["Region", "Sales", "Sales"],
        ["Region", "Q1", "Q2"],
        ["North", "1", "2"],
        ["North", "3", "4"],
    ]


def test_the_model_reads_table_rows_without_markup():
    from retrieval.embedding import passage_text

    table = to_markdown([["", "2023", "2022"], ["Products", "$96,388", "$104,429"]])
    assert passage_text("Results > Sales", f"Net sales by category:\n{table}") == (
        "Results > Sales\nNet sales by category:\n| 2023 | 2022\nProducts | $96,388 | $104,429"
    )
    assert passage_text(None, "A | B in prose stays.") == "A | B in prose stays."


def test_the_model_reads_what_a_file_name_says_of_its_document():
    from retrieval.embedding import document_label, passage_text

    assert document_label("2023 Q1 AAPL.pdf") == "2023 Q1 AAPL"
    assert document_label("reports/annual_report-2022.v2.docx") == "annual report 2022 v2"
    assert document_label("mail.eml/Квартальный отчёт.pdf") == "Квартальный отчёт"
    # names that say nothing in words add nothing: ids, numbers, hashes, a bare extension
    for name in ("4983.md", "12-77.txt", "3f2a9c1e0b7d4e22a1c9.pdf", "", None):
        assert document_label(name) is None, name
    assert passage_text("Risks", "Text.", "2023 Q1 AAPL.pdf") == "2023 Q1 AAPL\nRisks\nText."
    assert passage_text(None, "Text.", "4983.md") == "Text."
