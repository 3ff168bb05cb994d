"""The confined child of the page view: ``python -m api.page_render_child``, started by
``api.page_render`` once per render, word lookup or LibreOffice conversion.

It reads one JSON request on stdin, confines itself (``core.confine``: no network, resource
limits, the parse user where the API runs as root) and then does one thing:

- ``render``: page ``page`` of the PDF on descriptor ``fd`` as a PNG ``width`` pixels wide, unless
  the image would hold more than ``max_pixels``;
- ``words``: the words of page ``page`` with their boxes, unless the page holds more than
  ``max_chars`` characters;
- ``convert``: writes a LibreOffice profile that updates no link and runs no macro, then becomes
  ``soffice`` (exec) with the arguments given.

It answers one JSON line on stdout (for ``render``, the PNG's bytes follow it). The parent reads
the answer as data that may be hostile, and kills the child's whole process group at its time
limit.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

# LibreOffice's settings for a conversion of a file nobody vouches for: links (images, sections,
# OLE objects, Calc's external data) are never updated, macros never run, and linked images from
# documents are not fetched (BlockUntrustedRefererLinks). Writer counts "never" as 0, Calc as 1.
PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Field" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update"><prop oor:name="Link" oor:op="fuse"><value>1</value></prop></item>
</oor:items>
"""  # noqa: E501


def _say(header: dict[str, Any], body: bytes = b"") -> None:
    out = sys.stdout.buffer
    out.write(json.dumps(header).encode() + b"\n" + body)
    out.flush()


def _confine(request: dict[str, Any]) -> list[str]:
    from core import confine

    os.umask(0o077)
    return confine.apply(confine.Confinement.from_json(request["confine"]), Path(request["home"]))


def _convert(request: dict[str, Any]) -> None:
    _confine(request)
    profile = Path(request["profile"]) / "user"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "registrymodifications.xcu").write_text(PROFILE)
    argv = [str(a) for a in request["argv"]]
    os.execve(argv[0], argv, {str(k): str(v) for k, v in request["env"].items()})


def _document(pdfium: Any, fd: int) -> Any:
    return pdfium.PdfDocument(os.fdopen(fd, "rb", closefd=False), autoclose=False)


def _render(pdfium: Any, request: dict[str, Any], missing: list[str]) -> None:
    pdf = _document(pdfium, int(request["fd"]))
    pages = len(pdf)
    page = int(request["page"])
    if not 1 <= page <= pages:
        _say({"kind": "out_of_range", "pages": pages, "missing": missing})
        return
    p = pdf[page - 1]
    size = (float(p.get_width()), float(p.get_height()))
    scale = int(request["width"]) / max(size[0], 1.0)
    pixels = (size[0] * scale + 1) * (size[1] * scale + 1)
    if pixels > int(request["max_pixels"]):
        _say({"kind": "too_big", "pixels": pixels, "size": size, "missing": missing})
        return
    image = p.render(scale=scale).to_pil()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    _say({"kind": "ok", "pages": pages, "size": size, "missing": missing}, out.getvalue())


def _words(pdfium: Any, request: dict[str, Any], missing: list[str]) -> None:
    pdf = _document(pdfium, int(request["fd"]))
    page = int(request["page"])
    if not 1 <= page <= len(pdf):
        _say({"kind": "ok", "words": [], "missing": missing})
        return
    p = pdf[page - 1]
    text = p.get_textpage()
    count = text.count_chars()
    if count > int(request["max_chars"]):
        _say({"kind": "too_many", "chars": count, "missing": missing})
        return
    height = p.get_height()
    whole = text.get_text_range(0, count) if count else ""
    words: list[list[Any]] = []
    chars: list[str] = []
    box: list[float] = []
    for i in range(count):
        # one call for the page's text; a page whose text does not line up with its characters
        # (surrogate pairs) is read a character at a time
        ch = whole[i] if len(whole) == count else text.get_text_range(i, 1)
        if not ch or ch.isspace() or ch in "\x00\x02\ufffe":
            if chars:
                words.append(["".join(chars), *box])
            chars, box = [], []
            continue
        left, bottom, right, top = text.get_charbox(i)
        y0, y1 = height - top, height - bottom
        box = (
            [min(box[0], left), min(box[1], y0), max(box[2], right), max(box[3], y1)]
            if box
            else [left, y0, right, y1]
        )
        chars.append(ch)
    if chars:
        words.append(["".join(chars), *box])
    _say({"kind": "ok", "words": words, "missing": missing})


def main() -> None:
    request = json.loads(sys.stdin.readline())
    if request["op"] == "convert":
        _convert(request)
        return
    # imported before the user is dropped: the interpreter's files may be unreadable to the parse
    # user (a Python installed under /root), and codecs and PIL's writers are found late
    import encodings.utf_16_le  # noqa: F401  (pdfium's text)

    import PIL.Image
    import PIL.PngImagePlugin  # noqa: F401
    import pypdfium2 as pdfium

    missing = _confine(request)
    try:
        if request["op"] == "render":
            _render(pdfium, request, missing)
        else:
            _words(pdfium, request, missing)
    except pdfium.PdfiumError as e:
        _say({"kind": "unreadable", "message": str(e)[:300], "missing": missing})
    except MemoryError:
        _say({"kind": "memory", "missing": missing})
    except Exception as e:  # noqa: BLE001 - a file pdfium reads but PIL or we cannot: said, not raised
        _say(
            {"kind": "unreadable", "message": f"{type(e).__name__}: {e}"[:300], "missing": missing}
        )


if __name__ == "__main__":
    main()
