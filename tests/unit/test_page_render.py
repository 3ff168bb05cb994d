"""A document's page as an image (api.page_images): rendered with pdfium at the width asked,
kept on disk under a size bound (least recently used out first), office documents through the PDF
LibreOffice makes of them; a citation's sentence found among its chunk's words; and the overlay the
web page draws over the image (ui.page_view)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from api import page_images
from api.page_images import NoPages, PageCache, PageImages, PageOutOfRange, match_sentence
from ui.page_view import PASSAGE, SENTENCE, overlay_html

pytestmark = pytest.mark.unit
MIB = 1024 * 1024


def three_pages(path: Path) -> Path:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    for n in range(1, 4):
        c.setFont("Helvetica", 11)
        c.drawString(72, 700, f"Page {n} of the Hollowell orchard report.")
        c.drawString(72, 686, "The cider house presses the fruit in October.")
        c.drawString(72, 672, "Visitors may walk the rows on Saturdays.")
        c.showPage()
    c.save()
    return path


@pytest.fixture()
def pdf(tmp_path: Path) -> Path:
    return three_pages(tmp_path / "report.pdf")


def images(tmp_path: Path, max_bytes: int = 64 * MIB) -> PageImages:
    return PageImages(PageCache(tmp_path / "pages", max_bytes), 2000)


def test_a_page_renders_at_the_width_asked_and_is_cached(pdf: Path, tmp_path: Path) -> None:
    pages = images(tmp_path)
    first = pages.render(pdf, "report.pdf", "a" * 64, 2, 600)
    png = Image.open(io.BytesIO(first.png))
    assert png.format == "PNG" and png.size[0] == 600
    assert abs(png.size[1] - 600 * 792 / 612) <= 1
    assert first.pages == 3 and first.size == (612.0, 792.0) and first.via == "pdf"
    assert not first.cached
    again = pages.render(pdf, "report.pdf", "a" * 64, 2, 600)
    assert again.cached and again.png == first.png and again.pages == 3
    assert again.size == first.size


def test_a_page_outside_the_document_is_refused(pdf: Path, tmp_path: Path) -> None:
    with pytest.raises(PageOutOfRange) as e:
        images(tmp_path).render(pdf, "report.pdf", "a" * 64, 4, 600)
    assert e.value.pages == 3


def test_text_has_no_pages(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("Just words.")
    with pytest.raises(NoPages, match="its text is shown instead"):
        images(tmp_path).render(note, "note.txt", "b" * 64, 1, 600)


def test_an_office_file_without_libreoffice_is_shown_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_images, "soffice", lambda: None)
    doc = tmp_path / "letter.docx"
    doc.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(NoPages, match="needs LibreOffice"):
        images(tmp_path).render(doc, "letter.docx", "c" * 64, 1, 600)


@pytest.mark.skipif(page_images.soffice() is None, reason="LibreOffice (soffice) not installed")
def test_an_office_file_renders_through_libreoffice_once(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Orchard letter", 1)
    d.add_paragraph("The Hollowell orchard grows Bramley apples.")
    path = tmp_path / "letter.docx"
    d.save(str(path))
    pages = images(tmp_path)
    shown = pages.render(path, "letter.docx", "d" * 64, 1, 400)
    assert shown.via == "libreoffice" and shown.pages == 1
    assert Image.open(io.BytesIO(shown.png)).size[0] == 400
    made = list((tmp_path / "pages").glob("*/*.pdf"))
    assert len(made) == 1  # the converted PDF is kept ...
    again = pages.render(path, "letter.docx", "d" * 64, 1, 300)
    assert again.via == "libreoffice" and not again.cached
    assert list((tmp_path / "pages").glob("*/*.pdf")) == made  # ... and not made again
    # another document with the same bytes (another collection) shares nothing of its cache
    other = pages.render(path, "letter.docx", "d" * 64, 1, 300, document="elsewhere")
    assert not other.cached and len(list((tmp_path / "pages").glob("*/*.pdf"))) == 2


def test_the_cache_keeps_to_its_bound_least_recently_used_out_first(tmp_path: Path) -> None:
    cache = PageCache(tmp_path / "pages", 250)
    for i, key in enumerate(("a1", "b2", "c3")):
        cache.put(key * 32, ".png", bytes(100))
        path = cache._file(key * 32, ".png")
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    # two fit: the oldest went when the third came
    assert cache.get("a1" * 32, ".png") is None
    assert cache.get("b2" * 32, ".png") is not None  # used now: the newest
    cache.put("d4" * 32, ".png", bytes(100))
    assert cache.get("c3" * 32, ".png") is None  # the least recently used
    assert cache.get("b2" * 32, ".png") is not None and cache.get("d4" * 32, ".png") is not None
    assert cache.size() <= 250
    PageCache(tmp_path / "none", 0).put("e5" * 32, ".png", bytes(10))
    assert not (tmp_path / "none").exists()  # a bound of 0 keeps nothing


def test_the_supporting_sentence_is_found_among_the_chunks_words(pdf: Path, tmp_path: Path) -> None:
    chunk = {"1": [[70, 80, 400, 125]]}  # the three lines of page 1 (baselines 92, 106, 120)
    pages = images(tmp_path)
    sentence = "The cider house presses the fruit in October."
    found = pages.sentence_boxes(pdf, "a" * 64, chunk, sentence, "doc")
    assert found is not None and list(found) == ["1"]
    (line,) = found["1"]
    x0, top, x1, bottom = line
    assert 72 - 1 <= x0 <= 73 and 95 < top < bottom <= 110  # the second line only
    assert (
        pages.sentence_boxes(pdf, "a" * 64, chunk, "Nothing here is on the page at all.", "doc")
        is None
    )
    # the page's words are kept: the next lookup reads them from the cache, not the PDF
    assert len(list((tmp_path / "pages").glob("*/*.words"))) == 1
    pdf.unlink()
    assert pages.sentence_boxes(pdf, "a" * 64, chunk, sentence, "doc") == found


def test_a_sentence_is_matched_by_its_words_in_order() -> None:
    words = {
        "2": [("Net", (10, 10, 20, 20)), ("sales", (22, 10, 40, 20)), ("rose.", (42, 10, 60, 20))]
    }
    words["2"].append(("Costs", (10, 30, 30, 40)))
    found = match_sentence(words, {"2": [[0, 0, 100, 50]]}, "Net sales rose")
    assert found == {"2": [[10, 10, 60, 20]]}
    assert match_sentence(words, {"2": [[0, 25, 100, 50]]}, "Net sales rose") is None  # outside


def test_the_overlay_places_boxes_in_percent_of_the_page() -> None:
    html = overlay_html(b"\x89PNG", 4, (612.0, 792.0), [[61, 79, 306, 158]], [[61, 79, 120, 90]])
    assert 'data-page="4"' in html and "data:image/png;base64," in html
    assert html.count(f'class="{PASSAGE}"') == 1 and html.count(f'class="{SENTENCE}"') == 1
    assert "left:9.967%;top:9.975%;width:40.033%;height:9.975%" in html
    bare = overlay_html(b"\x89PNG", 5, (612.0, 792.0))
    assert PASSAGE not in bare.replace('class="askdocs-page"', "")
