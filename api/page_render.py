"""The page view's untrusted work, each in a confined child (``api.page_render_child``) with a
wall-clock limit: rendering a page, reading its words, and LibreOffice's conversion of an office
document. The API process itself never opens a PDF with pdfium, so a page that takes minutes to
draw (nested form XObjects) or a bitmap of gigabytes stops only its own child, and no lock makes
another request wait for it.

Each child runs in a session of its own, confined as ingestion's parse children are
(``core.confine``: no network, RLIMIT_AS/CPU/FSIZE/NPROC, the parse user where the API runs as
root); at its time limit the whole process group is killed (LibreOffice's ``soffice.bin`` too).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core import confine
from core.files import UnsafeFile, read_regular
from core.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
ANSWER_BYTES = 512 * MIB  # a render's PNG: at most max_pixels, 4 bytes each, with room
PDF_BYTES = 2**30  # a converted office document
MAX_WORD_CHARS = 50_000  # a page's characters beyond which no sentence is looked up


class RenderFailed(Exception):
    """The page could not be rendered (or read); the message says why and what to do."""


class TooBig(RenderFailed):
    """The image asked for would hold more pixels than allowed (depends on the width)."""


class ConversionFailed(Exception):
    """LibreOffice could not make a PDF of the document."""


class PageOutOfRange(Exception):
    """The page asked for is not in the document."""

    def __init__(self, pages: int) -> None:
        super().__init__(pages)
        self.pages = pages


@dataclass(frozen=True)
class RenderLimits:
    """What one page-view child may take.

    :param max_pixels: most pixels of one page image (width x height at the scale asked)
    :param render_seconds: wall-clock limit of one render or word lookup
    :param convert_seconds: wall-clock limit of one LibreOffice conversion
    :param user: the user children drop to where the API runs as root (ingestion's parse user)
    """

    max_pixels: int = 25_000_000
    render_seconds: float = 20.0
    convert_seconds: float = 120.0
    user: str = "askdocs-parse"
    address_space_bytes: int = 4 * 2**30
    max_processes: int = 256
    max_file_bytes: int = 2**30

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderLimits:
        """The page view's limits: its own pixel and time limits, ingestion's confinement."""
        return cls(
            max_pixels=settings.page_max_pixels,
            render_seconds=settings.page_render_seconds,
            user=settings.parse_user,
            address_space_bytes=settings.parse_address_space_mb * MIB,
            max_processes=settings.parse_max_processes,
            max_file_bytes=settings.parse_max_file_mb * MIB,
        )

    def confinement(self, seconds: float) -> confine.Confinement:
        identity = confine.parse_identity(self.user)
        return confine.Confinement(
            uid=None if identity is None else identity[0],
            gid=None if identity is None else identity[1],
            address_space_bytes=self.address_space_bytes,
            cpu_seconds=math.ceil(seconds) + 1,
            max_processes=self.max_processes,
            max_file_bytes=self.max_file_bytes,
        )


_WARNED: set[str] = set()


def _warn_missing(missing: object) -> None:
    """Log, once per process, each part of the confinement a child could not have."""
    for reason in missing if isinstance(missing, list) else []:
        if isinstance(reason, str) and reason not in _WARNED:
            _WARNED.add(reason)
            log.warning("page view child isolation incomplete: %s", reason)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _child_env(home: Path) -> dict[str, str]:
    """A bare environment: none of the API's settings or secrets reach a child."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
    }


def run_child(
    request: dict[str, Any],
    seconds: float,
    home: Path,
    file: IO[bytes] | None = None,
) -> tuple[dict[str, Any] | None, bytes, int]:
    """Run one request in a confined child within ``seconds``: its answer (None when it gave
    none), the bytes after the answer, its exit code. ``file`` is handed over as a descriptor
    (the child need not be able to open its path). Raises ``subprocess.TimeoutExpired`` once the
    child's process group is killed at the limit."""
    fds: Sequence[int] = ()
    if file is not None:
        fds = (file.fileno(),)
        request = {**request, "fd": file.fileno()}
    request = {**request, "home": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.page_render_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=fds,
        cwd=ROOT,
        env=_child_env(home),
        start_new_session=True,  # its own process group: one kill reaches all it started
    )
    try:
        out, err = proc.communicate(json.dumps(request).encode() + b"\n", timeout=seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise
    except BaseException:
        _kill_group(proc.pid)
        proc.communicate()
        raise
    finally:
        _kill_group(proc.pid)  # anything it left behind (LibreOffice's helpers)
    if len(out) > ANSWER_BYTES:
        return None, b"", proc.returncode
    line, _, rest = out.partition(b"\n")
    try:
        answer = json.loads(line)
    except ValueError:
        if err:
            log.debug("page view child said: %s", err.decode(errors="replace")[-500:])
        return None, b"", proc.returncode
    if not isinstance(answer, dict):
        return None, b"", proc.returncode
    _warn_missing(answer.get("missing"))
    return answer, rest, proc.returncode


def _no_answer(code: int, seconds: float) -> RenderFailed:
    if code == -signal.SIGXCPU:
        return RenderFailed(f"drawing it took longer than {seconds:g} s of CPU")
    return RenderFailed(f"the renderer stopped without an answer (exit code {code})")


def render(
    pdf: IO[bytes], page: int, width: int, limits: RenderLimits
) -> tuple[bytes, int, tuple[float, float]]:
    """Page ``page`` (1-based) of the open PDF ``pdf`` as a PNG ``width`` pixels wide, its page
    count and the page's size in points."""
    seconds = limits.render_seconds
    request = {
        "op": "render",
        "page": page,
        "width": width,
        "max_pixels": limits.max_pixels,
        "confine": limits.confinement(seconds).to_json(),
    }
    with tempfile.TemporaryDirectory(prefix="askdocs-page-", ignore_cleanup_errors=True) as tmp:
        try:
            answer, png, code = run_child(request, seconds, Path(tmp), pdf)
        except subprocess.TimeoutExpired:
            raise RenderFailed(
                f"drawing it took longer than {seconds:g} s (ASKDOCS_PAGE_RENDER_SECONDS)"
            ) from None
    if answer is None:
        raise _no_answer(code, seconds)
    kind = answer.get("kind")
    try:
        if kind == "ok" and png.startswith(b"\x89PNG"):
            w, h = answer["size"]
            return png, int(answer["pages"]), (float(w), float(h))
        if kind == "out_of_range":
            raise PageOutOfRange(int(answer["pages"]))
        if kind == "too_big":
            w, h = answer["size"]
            raise TooBig(
                f"page {page} is {float(w):.0f} x {float(h):.0f} points: {width} pixels wide it "
                f"would be {float(answer['pixels']) / 1e6:.0f} M pixels, over the "
                f"{limits.max_pixels / 1e6:g} M allowed (ASKDOCS_PAGE_MAX_PIXELS); ask for a "
                "narrower image"
            )
    except (KeyError, TypeError, ValueError):
        pass
    if kind == "memory":
        raise RenderFailed("drawing it needed more memory than a page may take")
    if kind == "unreadable":
        raise RenderFailed(f"pdfium could not read it: {str(answer.get('message'))[:300]}")
    raise RenderFailed("the renderer gave an answer that is not one")


Word = tuple[str, tuple[float, float, float, float]]


def words(pdf: IO[bytes], page: int, limits: RenderLimits) -> list[Word] | None:
    """The words of page ``page`` with their boxes (points, origin top left), in pdfium's order;
    None when the page holds more than ``MAX_WORD_CHARS`` characters. Raises ``RenderFailed``."""
    seconds = limits.render_seconds
    request = {
        "op": "words",
        "page": page,
        "max_chars": MAX_WORD_CHARS,
        "confine": limits.confinement(seconds).to_json(),
    }
    with tempfile.TemporaryDirectory(prefix="askdocs-page-", ignore_cleanup_errors=True) as tmp:
        try:
            answer, _, code = run_child(request, seconds, Path(tmp), pdf)
        except subprocess.TimeoutExpired:
            raise RenderFailed(f"reading its words took longer than {seconds:g} s") from None
    if answer is None:
        raise _no_answer(code, seconds)
    if answer.get("kind") == "too_many":
        return None
    if answer.get("kind") != "ok" or not isinstance(answer.get("words"), list):
        raise RenderFailed("the page's words could not be read")
    try:
        return [
            (str(w[0]), (float(w[1]), float(w[2]), float(w[3]), float(w[4])))
            for w in answer["words"]
        ]
    except (IndexError, TypeError, ValueError) as e:
        raise RenderFailed("the page's words could not be read") from e


def soffice() -> str | None:
    """LibreOffice's converter, where installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(converter: str, original: Path, suffix: str, limits: RenderLimits) -> bytes:
    """The PDF LibreOffice makes of ``original`` in a confined child (no network, the parse user,
    rlimits), with a profile of its own that updates no link and runs no macro; its process group
    is killed at ``limits.convert_seconds``."""
    seconds = limits.convert_seconds
    confinement = limits.confinement(seconds)
    with tempfile.TemporaryDirectory(prefix="askdocs-soffice-", ignore_cleanup_errors=True) as tmp:
        # the folder stays ours (the child's user cannot swap what is in it); home is the child's
        work = Path(tmp)
        work.chmod(0o711)
        home = work / "home"
        home.mkdir(mode=0o700)
        src = work / f"document{suffix}"
        shutil.copyfile(original, src)
        src.chmod(0o444)
        profile = home / "profile"
        request = {
            "op": "convert",
            "profile": str(profile),
            "confine": confinement.to_json(),
            "argv": [
                converter,
                f"-env:UserInstallation={profile.as_uri()}",
                "--headless",
                "--norestore",
                "--nolockcheck",
                "--convert-to",
                "pdf",
                "--outdir",
                str(home / "out"),
                str(src),
            ],
            "env": {
                **_child_env(home),
                # the system's shared-extensions cache may be root's alone (see ingest.parse_server)
                "UNO_SHARED_PACKAGES_CACHE": f"{home.as_uri()}/uno-shared",
            },
        }
        try:
            _, _, code = run_child(request, seconds, home)
        except subprocess.TimeoutExpired:
            raise ConversionFailed(f"LibreOffice took over {seconds:g} s") from None
        try:
            return _read_output(home)
        except (OSError, UnsafeFile) as e:
            raise ConversionFailed(
                f"LibreOffice could not convert it (exit code {code}): {e}"
            ) from None


def _read_output(home: Path) -> bytes:
    """The PDF the child wrote under ``home`` (its own folder), through no link."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    home_fd = os.open(home, flags)
    try:
        out_fd = os.open("out", flags, dir_fd=home_fd)
        try:
            return read_regular("document.pdf", PDF_BYTES, dir_fd=out_fd)
        finally:
            os.close(out_fd)
    finally:
        os.close(home_fd)
