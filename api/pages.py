"""Routes for showing a citation where it came from: a document's page as an image, and the boxes
of a chunk's lines on its pages (the web page draws them over the image)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.deps import Caller, ServicesDep, document_for
from api.errors import ApiError, errors
from api.page_images import (
    ConversionFailed,
    NoPages,
    PageCache,
    PageImages,
    PageOutOfRange,
    RenderFailed,
    RenderLimits,
    TooBig,
    is_pdf,
)
from api.schemas import ChunkBoxesOut
from core.auth import Role
from core.catalog import Chunk
from core.settings import Settings

router = APIRouter()
MIB = 1024 * 1024
NO_POSITIONS = (
    "no positions stored for this chunk: its document was ingested before positions were kept, "
    "or its format has no pages (re-ingest a PDF to get them)"
)


def page_images(settings: Settings) -> PageImages:
    """The page renderer over the data dir's page cache."""
    cache = PageCache(settings.data_dir / "pages", settings.page_cache_mb * MIB)
    return PageImages(cache, settings.page_max_width, RenderLimits.from_settings(settings))


@router.get(
    "/documents/{document_id}/pages/{page}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "The page as a PNG image"},
        **errors(401, 404, 422, 503),
    },
)
def document_page(
    services: ServicesDep,
    document_id: str,
    page: Annotated[int, Path(ge=1, le=100_000)],
    who: Caller,
    width: Annotated[int, Query(ge=100, le=4000, description="Image width in pixels.")] = 1000,
) -> Response:
    """Page ``page`` (from 1) of a PDF, or of the PDF LibreOffice makes of an office document,
    as a PNG ``width`` pixels wide. Headers: ``X-Page-Count``, ``X-Page-Size`` (the page's width
    and height in points, the unit of chunk boxes), ``X-Rendered-From`` (``pdf`` or
    ``libreoffice``), ``X-Cache`` (``hit`` or ``miss``, of this document's own views). A page
    whose image would hold more than ``ASKDOCS_PAGE_MAX_PIXELS`` is refused (422 ``too_big``), one
    that takes longer than ``ASKDOCS_PAGE_RENDER_SECONDS`` to draw too (422 ``unreadable``, at
    once for an hour after)."""
    settings = services.settings
    with services.catalog.reader() as s:
        doc = document_for(s, who, document_id, Role.read)
        name, blob, doc_id = doc.name, doc.blob, doc.id
    if width > settings.page_max_width:
        raise ApiError(
            422,
            "validation_error",
            f"width is at most {settings.page_max_width} pixels (ASKDOCS_PAGE_MAX_WIDTH)",
        )
    original = services.blobs.path(blob)
    if not original.exists():
        raise ApiError(404, "not_found", f"the original of {document_id} is gone")
    try:
        image = page_images(settings).render(original, name, blob, page, width, doc_id)
    except NoPages as e:
        raise ApiError(404, "no_pages", str(e)) from None
    except PageOutOfRange as e:
        raise ApiError(
            404, "not_found", f"{name} has {e.pages} pages; there is no page {page}"
        ) from None
    except ConversionFailed as e:
        raise ApiError(422, "conversion_failed", f"{name}: {e}") from None
    except TooBig as e:
        raise ApiError(422, "too_big", f"{name}: {e}") from None
    except RenderFailed as e:
        raise ApiError(422, "unreadable", f"{name} could not be rendered: {e}") from None
    except OSError as e:  # the original or a cached file went while it was read
        raise ApiError(
            503, "unavailable", f"page {page} of {name} could not be read just now ({e.strerror})"
        ) from None
    return Response(
        image.png,
        media_type="image/png",
        headers={
            "X-Page-Count": str(image.pages),
            "X-Page-Size": f"{image.size[0]:.2f}x{image.size[1]:.2f}",
            "X-Rendered-From": image.via,
            "X-Cache": "hit" if image.cached else "miss",
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/chunks/{chunk_id}/boxes", response_model=ChunkBoxesOut, responses=errors(401, 404, 422)
)
def chunk_boxes(
    services: ServicesDep,
    chunk_id: Annotated[int, Path(ge=0, le=2**63 - 1)],
    who: Caller,
    start: Annotated[int | None, Query(ge=0, description="With end: a span of the text.")] = None,
    end: Annotated[int | None, Query(ge=0)] = None,
) -> ChunkBoxesOut:
    """The boxes of a chunk's lines on its pages; with ``start`` and ``end`` (characters of the
    chunk's text: a citation's supporting sentence), those of that span's words too."""
    with services.catalog.reader() as s:
        chunk = s.get(Chunk, chunk_id)
        try:
            doc = document_for(s, who, chunk.document_id, Role.read) if chunk else None
        except ApiError:
            doc = None  # the same answer as for a chunk that does not exist
        if chunk is None or doc is None:
            raise ApiError(404, "not_found", f"no chunk {chunk_id}")
        blob, text, stored, doc_id = doc.blob, chunk.text, chunk.boxes, doc.id
        out = ChunkBoxesOut(
            chunk_id=chunk.id, document_id=doc.id, page=chunk.page, page_end=chunk.page_end
        )
    if (start is None) != (end is None):
        raise ApiError(422, "validation_error", "give both start and end, or neither")
    if start is not None and end is not None and not start < end <= len(text):
        raise ApiError(
            422, "validation_error", f"start < end <= {len(text)} (the chunk's length) please"
        )
    if not stored:
        out.message = NO_POSITIONS
        return out
    out.boxes = json.loads(stored)
    if start is not None and end is not None and out.boxes:
        original = services.blobs.path(blob)
        try:
            if original.exists() and is_pdf(original):
                out.sentence = page_images(services.settings).sentence_boxes(
                    original, blob, out.boxes, text[start:end], doc_id
                )
        except OSError:  # the original went meanwhile: the chunk's boxes still stand
            out.sentence = None
    return out
