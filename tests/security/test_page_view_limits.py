"""The page view reads files an attacker may have uploaded: a few kilobytes of PDF that take minutes
to draw or a page gigabytes tall, an office document that links images on the API's own network or
disk, a conversion that never ends. Run against the real renderer (pdfium in its confined child) and
the real LibreOffice: each is refused or stopped at its limit, another page renders meanwhile, no
request leaves the conversion, nothing keeps running after a timeout, and a cached page converts
nothing and leaves no file behind."""

from __future__ import annotations

import http.server
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api import page_render
from api.page_images import (
    ConversionFailed,
    PageCache,
    PageImages,
    RenderFailed,
    RenderLimits,
    TooBig,
    soffice,
)

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
needs_soffice = pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) not installed")


def _pdf(objects: dict[int, bytes]) -> bytes:
    out = b"%PDF-1.4\n"
    offsets: dict[int, int] = {}
    for n in sorted(objects):
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + objects[n] + b"\nendobj\n"
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n" % size
    for i in range(size):
        out += (b"%010d 00000 n \n" % offsets[i]) if i in offsets else b"0000000000 65535 f \n"
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)


def _stream(head: bytes, content: bytes) -> bytes:
    return head[:-2] + b" /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def form_bomb(levels: int = 7, fan: int = 10) -> bytes:
    """A 3 KB page of form XObjects nested ``levels`` deep, each drawing the one below ``fan``
    times: fan**levels fills, far past any time limit for pdfium."""
    form = b"<< /Type /XObject /Subtype /Form /BBox [0 0 600 800] >>"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    }
    objects[10] = _stream(form, b"0.5 g 10 10 300 300 re f")
    draw = b" ".join(b"q 1 0 0 1 0.1 0.1 cm /X Do Q" for _ in range(fan))
    for i in range(1, levels + 1):
        res = b" /Resources << /XObject << /X %d 0 R >> >> >>" % (9 + i)
        objects[10 + i] = _stream(form[:-3] + res, draw)
    objects[4] = _stream(b"<< >>", b"/X Do")
    objects[3] = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R "
        b"/Resources << /XObject << /X %d 0 R >> >> >>" % (10 + levels)
    )
    return _pdf(objects)


def plain_page(width: int, height: int) -> bytes:
    """A one-page PDF of ``width`` x ``height`` points with a word on it."""
    content = b"BT /F1 12 Tf 1 1 Td (hi) Tj ET"
    return _pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>" % (width, height),
            4: _stream(b"<< >>", content),
            5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        }
    )


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in seen and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ops of every confined child started (renders, word lookups, conversions)."""
    started: list[str] = []
    real = page_render.run_child

    def counted(request: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started.append(str(request["op"]))
        return real(request, *args, **kwargs)

    monkeypatch.setattr(page_render, "run_child", counted)
    return started


@pytest.fixture
def own_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary folder the page view's work goes to, its own: what is left there shows.
    Under /tmp, open to the parse user (pytest's tmp_path is root's alone)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="askdocs-page-view-test-"))
    path.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_render_bomb_is_killed_at_its_limit_while_another_page_renders(
    tmp_path: Path, children: list[str]
) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(form_bomb())
    normal = tmp_path / "normal.pdf"
    normal.write_bytes(plain_page(612, 792))
    pages = PageImages(
        PageCache(tmp_path / "pages", 64 * MIB), 2000, RenderLimits(render_seconds=4)
    )
    outcome: dict[str, Any] = {}

    def view_bomb() -> None:
        started = time.monotonic()
        try:
            pages.render(bomb, "bomb.pdf", "b" * 64, 1, 1000, "mallory-doc")
        except RenderFailed as e:
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - started

    viewer = threading.Thread(target=view_bomb)
    viewer.start()
    _wait_for(lambda: len(children) == 1)
    shown = pages.render(normal, "normal.pdf", "n" * 64, 1, 1000, "alice-doc")
    assert shown.png.startswith(b"\x89PNG") and shown.pages == 1
    assert viewer.is_alive()  # the bomb was still drawing: nothing made Alice's page wait for it
    viewer.join(60)
    assert "longer than 4 s" in str(outcome["error"])
    assert outcome["seconds"] < 15
    assert _processes_mentioning("api.page_render_child") == []
    # the failure is remembered: asking again is refused at once, without a child
    before = len(children)
    with pytest.raises(RenderFailed, match="longer than 4 s"):
        pages.render(bomb, "bomb.pdf", "b" * 64, 1, 500, "mallory-doc")
    assert len(children) == before
    # and so is the sentence lookup on that page
    assert (
        pages.sentence_boxes(bomb, "b" * 64, {"1": [[0, 0, 600, 800]]}, "hi", "mallory-doc") is None
    )
    assert len(children) == before


def test_a_page_too_tall_for_its_width_is_refused_before_it_is_drawn(tmp_path: Path) -> None:
    pages = PageImages(PageCache(tmp_path / "pages", 64 * MIB), 4000)
    tall = tmp_path / "tall.pdf"
    tall.write_bytes(plain_page(10, 14400))  # 2000 px wide: 5.8 G pixels (over 17 GB of bitmap)
    with pytest.raises(TooBig, match=r"over the 25 M allowed \(ASKDOCS_PAGE_MAX_PIXELS\)"):
        pages.render(tall, "tall.pdf", "t" * 64, 1, 2000, "doc")
    scroll = tmp_path / "scroll.pdf"
    scroll.write_bytes(plain_page(200, 14400))  # 1000 px wide: 72 M pixels
    with pytest.raises(TooBig, match="72 M pixels"):
        pages.render(scroll, "scroll.pdf", "s" * 64, 1, 1000, "doc")
    # the refusal depends on the width, so it is not remembered: narrower, the page shows
    narrow = pages.render(scroll, "scroll.pdf", "s" * 64, 1, 300, "doc")
    assert narrow.size == (200.0, 14400.0) and narrow.png.startswith(b"\x89PNG")


def _odt(body: str) -> bytes:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"'
        ' xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"'
        ' xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">'
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest'
        ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2"><manifest:file-entry manifest:full-path="/"'
        ' manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _linked_image(href: str) -> str:
    return (
        '<text:p><draw:frame draw:name="i" svg:width="5cm" svg:height="5cm"'
        ' text:anchor-type="paragraph"><draw:image'
        f' xlink:href="{href}" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>'
        "</draw:frame></text:p>"
    )


@pytest.fixture
def web_server() -> Iterator[tuple[int, list[str]]]:
    """A web server on the API's own loopback, serving an image, and the paths asked of it."""
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(png, format="PNG")
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(png.getvalue())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], asked
    server.shutdown()
    server.server_close()


@needs_soffice
def test_an_office_document_gets_nothing_from_the_network_or_the_disk_through_its_links(
    tmp_path: Path, web_server: tuple[int, list[str]]
) -> None:
    from PIL import Image

    port, asked = web_server
    local = tmp_path / "shared"
    local.mkdir()
    local.chmod(0o755)
    private_image = local / "private.png"
    Image.new("RGB", (40, 40), (30, 30, 200)).save(private_image)
    private_image.chmod(0o644)  # readable by the parse user too: only the links setting keeps it
    odt = tmp_path / "linked.odt"
    odt.write_bytes(
        _odt(
            "<text:p>Linked images below.</text:p>"
            + _linked_image(f"http://127.0.0.1:{port}/internal-image.png")
            + _linked_image(private_image.as_uri())
        )
    )
    pages = PageImages(PageCache(tmp_path / "pages", 64 * MIB), 2000)
    shown = pages.render(odt, "linked.odt", "o" * 64, 1, 400, "doc")
    assert shown.via == "libreoffice" and shown.png.startswith(b"\x89PNG")
    assert asked == []  # no request reached the server on the API's loopback
    import pypdfium2 as pdfium

    (converted,) = (tmp_path / "pages").glob("*/*.pdf")
    pdf = pdfium.PdfDocument(str(converted))
    kinds = [o.type for o in pdf[0].get_objects(max_depth=5)]
    pdf.close()
    assert pdfium.raw.FPDF_PAGEOBJ_IMAGE not in kinds  # neither image was fetched or embedded


@needs_soffice
def test_a_conversion_past_its_limit_leaves_nothing_running(
    tmp_path: Path, own_tmp: Path, children: list[str]
) -> None:
    odt = tmp_path / "slow.odt"
    # ~3,000 pages: LibreOffice takes over 12 s for it on the development box
    paragraph = "<text:p>Paragraph {} of a long letter about the orchard and its rows.</text:p>"
    odt.write_bytes(_odt("".join(paragraph.format(i) for i in range(100_000))))
    limits = RenderLimits(convert_seconds=2.5)
    pages = PageImages(PageCache(tmp_path / "pages", 64 * MIB), 2000, limits)
    seen: set[int] = set()
    converting = threading.Event()
    watching = threading.Event()

    def watch() -> None:  # the LibreOffice processes of this conversion, while it runs
        while not converting.is_set():
            seen.update(p for p in _processes_mentioning(str(own_tmp)) if _is_soffice(p))
            watching.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    _wait_for(watching.is_set)
    try:
        with pytest.raises(ConversionFailed, match="LibreOffice took over 2.5 s"):
            pages.render(odt, "slow.odt", "l" * 64, 1, 400, "doc")
    finally:
        converting.set()
        watcher.join()
    assert seen, "LibreOffice never started: the limit stopped nothing"
    assert [p for p in seen if _alive(p)] == []  # soffice.bin and oosplash went with the child
    assert _processes_mentioning(str(own_tmp)) == []
    assert list(own_tmp.iterdir()) == []  # its folder is gone too
    # remembered: the next view is refused without starting LibreOffice again
    before = len(children)
    with pytest.raises(ConversionFailed, match="LibreOffice took over 2.5 s"):
        pages.render(odt, "slow.odt", "l" * 64, 1, 400, "doc")
    assert len(children) == before


def _is_soffice(pid: int) -> bool:
    try:
        return (
            "soffice" in Path(f"/proc/{pid}/comm").read_text()
            or "oosplash" in Path(f"/proc/{pid}/comm").read_text()
        )
    except OSError:
        return False


@needs_soffice
def test_a_cached_page_of_an_office_file_converts_nothing_and_leaves_no_file(
    tmp_path: Path, own_tmp: Path, children: list[str]
) -> None:
    import docx
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(7).integers(0, 255, (700, 700, 3), dtype=np.uint8)
    picture = tmp_path / "noise.png"
    Image.fromarray(noise).save(picture)
    d = docx.Document()
    d.add_paragraph("The Hollowell orchard survey, with its aerial photograph.")
    d.add_picture(str(picture))
    path = tmp_path / "survey.docx"
    d.save(str(path))
    # room for page images, not for the converted PDF (its photograph is ~1 MB)
    cache = PageCache(tmp_path / "pages", 300_000)
    pages = PageImages(cache, 2000)
    first = pages.render(path, "survey.docx", "s" * 64, 1, 150, "doc")
    assert first.via == "libreoffice" and not first.cached
    assert children == ["convert", "render"]
    assert list((tmp_path / "pages").glob("*/*.pdf")) == []  # too big to keep
    assert list(own_tmp.iterdir()) == []  # the PDF it rendered from was an unnamed file
    again = pages.render(path, "survey.docx", "s" * 64, 1, 150, "doc")
    assert again.cached and again.png == first.png and again.via == "libreoffice"
    assert children == ["convert", "render"]  # no conversion, no render
    assert list(own_tmp.iterdir()) == []
