"""Write one small file of each kind askdocs parses, each holding text that parsers hand over in
more than one form: mathematical alphanumeric symbols (U+1D400.., beyond U+FFFF), an emoji, CJK,
right-to-left Arabic, a decomposed accent (e + U+0301) and, where the format allows one, a NUL.

    .venv/bin/python bench/make_text_corpus.py DIR

Then ``bench/parse_corpus.py DIR`` parses them the way a worker does. PDFs come from LibreOffice
(the Word file converted, fonts chosen by fallback, as a person's "save as PDF" would) when ``soffice`` is
installed, and from reportlab (a CJK CID font and Arabic set in visual order) always.
"""

from __future__ import annotations

import argparse
import csv
import email.message
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from html import escape
from pathlib import Path

MATH = "\U0001d400\U0001d401\U0001d402"  # mathematical bold A, B, C
EMOJI = "\U0001f600"  # a grinning face: DejaVu Sans draws it, so PDFs can hold it
CJK = "数据库"
ARABIC = "قاعدة البيانات"
DECOMPOSED = "cafe\u0301"  # how it is written in the file
COMPOSED = "caf\u00e9"  # how askdocs stores it (NFC)
# The pieces a chunk of any of the files must hold, in the form askdocs stores.
EXPECTED = (MATH, EMOJI, CJK, ARABIC, COMPOSED)
TITLE = f"Proof of {MATH}"
SENTENCE = (
    f"The proof uses {MATH} and {EMOJI} smile; the {CJK} stores rows; "
    f"{ARABIC} means database; a {DECOMPOSED} sells tea."
)


def write_txt(path: Path) -> Path:
    path.write_bytes(f"{TITLE}\n\n{SENTENCE}\nA null\x00byte ends it.\n".encode())
    return path


def write_md(path: Path) -> Path:
    path.write_bytes(f"# {TITLE}\n\n{SENTENCE}\n\nA null\x00byte ends it.\n".encode())
    return path


def _html(nul: bool) -> str:
    tail = "<p>A null\x00byte ends it.</p>" if nul else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Proof</title></head><body>'
        f"<h1>{escape(TITLE)}</h1><p>{escape(SENTENCE)}</p>"
        f'<p dir="rtl">{escape(ARABIC)}</p>{tail}</body></html>'
    )


def write_html(path: Path) -> Path:
    path.write_bytes(_html(nul=True).encode())
    return path


def write_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["term", "meaning"])
        w.writerow([MATH, "bold letters"])
        w.writerow([EMOJI, "a launch"])
        w.writerow([CJK, ARABIC])
        w.writerow([DECOMPOSED, "null\x00byte"])
    return path


def write_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(TITLE, level=1)
    d.add_paragraph(SENTENCE)
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "term", (0, 1): "meaning", (1, 0): CJK, (1, 1): ARABIC}.items():
        table.cell(r, c).text = text
    d.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = TITLE
    slide.placeholders[1].text = SENTENCE
    deck.save(str(path))
    return path


def write_xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Terms"
    for row in (["term", "meaning"], [MATH, EMOJI], [CJK, ARABIC], [DECOMPOSED, "tea"]):
        sheet.append(row)
    book.save(str(path))
    return path


def write_odt(path: Path) -> Path:
    """An OpenDocument text written by hand: a heading, a paragraph and a table."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
    )
    cells = "".join(
        f'<table:table-cell office:value-type="string"><text:p>{escape(t)}</text:p>'
        "</table:table-cell>"
        for t in (CJK, ARABIC)
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.2">'
        "<office:body><office:text>"
        f'<text:h text:outline-level="1">{escape(TITLE)}</text:h>'
        f"<text:p>{escape(SENTENCE)}</text:p>"
        f'<table:table table:name="Terms"><table:table-row>{cells}</table:table-row></table:table>'
        "</office:text></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text"
        )  # stored first, uncompressed
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


ATTACHMENT_NAME = "re\u0301sume\u0301.txt"  # decomposed: stored as "résumé.txt"


def write_eml(path: Path) -> Path:
    """A mail whose subject, body and attachment (its name too) hold every form."""
    msg = email.message.EmailMessage()
    msg["From"] = "Ada <ada@example.com>"
    msg["To"] = "Lin <lin@example.com>"
    msg["Subject"] = f"{TITLE} and {DECOMPOSED}"
    msg.set_content(f"{SENTENCE}\nA null\x00byte ends it.\n")
    msg.add_attachment(
        SENTENCE.encode(), maintype="text", subtype="plain", filename=ATTACHMENT_NAME
    )
    path.write_bytes(bytes(msg))
    return path


def write_pdf_cjk(path: Path) -> Path:
    """A reportlab PDF: CJK in a CID font (no font file needed to read its text), Arabic set in
    visual order (right to left, as producers store it) in DejaVu Sans."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path))
    c.setFont("Helvetica-Bold", 16)
    c.drawString(72, 760, "Databases in three scripts")
    c.setFont("STSong-Light", 12)
    c.drawString(72, 730, f"{CJK}是存储数据的系统。")
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if dejavu.exists():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(dejavu)))
        c.setFont("DejaVuSans", 12)
        c.drawRightString(520, 700, ARABIC[::-1])
        c.drawString(72, 670, f"A {DECOMPOSED} sells tea.")
    c.showPage()
    c.save()
    return path


def write_pdf_office(path: Path) -> Path | None:
    """The Word file converted to PDF by LibreOffice (None when it is not installed)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = write_docx(Path(tmp) / f"{path.stem}.docx")
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless",
             "--convert-to", "pdf", "--outdir", tmp, str(src)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        shutil.move(Path(tmp) / f"{path.stem}.pdf", path)
    return path


WRITERS: dict[str, Callable[[Path], Path | None]] = {
    "forms.txt": write_txt,
    "forms.md": write_md,
    "forms.html": write_html,
    "forms.csv": write_csv,
    "forms.docx": write_docx,
    "forms.pptx": write_pptx,
    "forms.xlsx": write_xlsx,
    "forms.odt": write_odt,
    "forms.eml": write_eml,
    "forms-cjk.pdf": write_pdf_cjk,
    "forms-office.pdf": write_pdf_office,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dir", type=Path)
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, write in WRITERS.items():
        made = write(args.dir / name)
        print(f"{'wrote' if made else 'skipped (no LibreOffice)'} {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
