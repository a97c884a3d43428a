"""PDF to text page by page: the text layer where there is one, OCR where there is none, tables as rows.

A page whose text layer holds fewer than MIN_TEXT_CHARS characters is a scan (or a photo of
a stamped page); only those pages are OCRed, so a digital PDF never pays for OCR and never has
its exact text replaced by a recognised one. Every block records its page for the citation.

Limits (corpus/limits.py) hold while reading: the page count is checked before any page is
read, the text is measured as it is extracted, a page is rendered no larger than the pixel limit
(a bigger sheet at a lower resolution), a stored picture is taken out only if it fits it, blank
pages are never OCRed, and OCR stops when the document's OCR time is spent.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from pathlib import Path

from policyqa.corpus.limits import LimitExceeded, OcrClock, ReadLimits, scale_to_fit, too_long
from policyqa.corpus.loaders import LoadError
from policyqa.corpus.tables import row_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, LoadOptions

MIN_TEXT_CHARS = 10
RENDER_DPI = 300  # for pages whose picture cannot be taken out as it is


def has_text_layer(text: str) -> bool:
    return len(re.sub(r"\s", "", text)) >= MIN_TEXT_CHARS


def pdf(path: Path, options: LoadOptions) -> Extracted:
    """pypdf's own complaints are captured, not printed on stderr: it logs (and sometimes warns
    about) every recoverable flaw it meets, wrong xref offsets, odd fonts, which is no news to a
    user whose text came out; a page whose text cannot be extracted at all is, and comes back in
    `warnings`."""
    with _captured_pypdf() as complaints:  # tables and OCR read the file through pypdf too
        return _pdf(path, options, complaints)


def _pdf(path: Path, options: LoadOptions, complaints: list[tuple[int, str]]) -> Extracted:
    from pypdf import PdfReader

    limits = options.limits
    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise LoadError(f"{path}: PDF is encrypted; save an unencrypted copy")
    pages = len(reader.pages)
    if pages > limits.pages:
        raise LimitExceeded(f"has {pages:,} pages (limit {limits.pages:,})")
    title = None
    if reader.metadata and reader.metadata.title:
        title = str(reader.metadata.title).strip() or None
    texts, bad = _page_texts(reader, complaints, limits.document_chars)
    text_pages = [i for i, t in enumerate(texts) if has_text_layer(t)]
    scanned = [i for i, t in enumerate(texts) if not has_text_layer(t)]
    tables = _table_pages(path, text_pages)
    failed: dict[int, str] = {}
    notes: list[str] = []
    recognised = _ocr_pages(reader, path, scanned, options, failed, notes) if options.ocr and scanned else {}
    bad = {i: why for i, why in bad.items() if not recognised.get(i, "").strip()}  # OCR may still read it
    bad.update({i: why for i, why in failed.items() if i not in bad})
    bad = dict(sorted(bad.items()))
    b = TextBuilder(limits.document_chars)
    for i, text in enumerate(texts):
        if i in tables:
            for block, is_row in tables[i]:
                b.add(block, page=i + 1, row=is_row)
        elif i in recognised:
            b.add(recognised[i], page=i + 1, ocr=True)
        elif text:
            b.add(text, page=i + 1)
    if bad and not text_pages and not recognised:
        first = next(iter(bad.items()))
        raise LoadError(f"{path}: no page of the PDF can be read (page {first[0] + 1} ({first[1]})); "
                        "re-save or print it to a new PDF")
    if scanned and not options.ocr and not text_pages:
        raise LoadError(f"{path}: scanned PDF without a text layer and OCR is off (--no-ocr); build without --no-ocr to read it")
    ex = b.extracted(title)
    if bad:
        ex.warnings = [f"{len(bad)} unreadable page(s) left out: "
                       + ", ".join(f"page {i + 1} ({why})" for i, why in list(bad.items())[:5])]
    ex.warnings += notes
    return ex


def _page_texts(reader, complaints: list[tuple[int, str]], max_chars: int) -> tuple[list[str], dict[int, str]]:
    """Each page's text layer, and the pages that could not be read: (page index → why).

    A page with no text on which pypdf complained is corrupt, not blank (a blank page or a scan
    says nothing). Text layers past `max_chars` in all stop the reading there."""
    texts: list[str] = []
    bad: dict[int, str] = {}
    total = 0
    for i, page in enumerate(reader.pages):
        before = len(complaints)
        try:
            text = (page.extract_text() or "").strip()
        except Exception as e:  # one broken page must not cost the others
            bad[i] = f"{type(e).__name__}: {str(e)[:80]}"
            texts.append("")
            continue
        said = [msg for _level, msg in complaints[before:]]
        if said and not text:
            bad[i] = said[0][:80]
        texts.append(text)
        total += len(text)
        if total > max_chars:
            raise too_long(max_chars)
    return texts, bad


@contextlib.contextmanager
def _captured_pypdf():
    """pypdf's log records and warnings, collected instead of reaching stderr."""
    records: list[tuple[int, str]] = []  # (logging level, message)

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelno, record.getMessage()))

    logger = logging.getLogger("pypdf")
    handler, propagate = _Collect(level=logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield records
        records.extend((logging.WARNING, str(w.message)) for w in caught)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _ocr_pages(reader, path: Path, pages: list[int], options: LoadOptions, failed: dict[int, str],
               notes: list[str]) -> dict[int, str]:
    """OCR of the pages without a text layer: blank ones skipped, within the document's OCR time."""
    from tqdm import tqdm

    from policyqa.corpus import ocr

    limits = options.limits
    clock = OcrClock(limits)
    renderer = _Renderer(path, limits)
    out: dict[int, str] = {}
    bar = tqdm(pages, desc=f"OCR {path.name}", unit="page", leave=False, disable=not options.progress)
    try:
        for i in bar:
            clock.check()
            try:
                with clock:
                    image = _stored_picture(reader.pages[i], limits) or renderer.render(i)
                    if ocr.has_ink(image):
                        out[i] = ocr.image_text(image)
                        notes += renderer.notes.pop(i, [])
            except ocr.OcrUnavailable as e:
                raise LoadError(f"{path}: page {i + 1} has no text layer and {e}; or build with --no-ocr") from None
            except LimitExceeded:
                raise
            except Exception as e:  # a page whose picture cannot be taken out or rendered: the others still count
                failed[i] = f"{type(e).__name__}: {str(e)[:80]}"
    finally:
        renderer.close()
    return out


def _stored_picture(page, limits: ReadLimits):
    """The page's scanned picture as stored (no resampling), or None to render the page instead.

    The largest picture is taken, if it is scan-sized (300 pixels on its short side) and within the
    pixel limit. Sizes are read from the picture's dictionary before anything is decoded, and again
    from the decoded stream (which may disagree): an oversized picture is never decoded whole."""
    try:
        xobjects = page["/Resources"].get_object()["/XObject"].get_object()
        sizes = []
        for name in xobjects:
            obj = xobjects[name].get_object()
            if obj.get("/Subtype") == "/Image":
                width, height = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
                sizes.append((width * height, min(width, height), name))
    except Exception:  # no pictures, or a damaged dictionary: render the page
        return None
    if not sizes:
        return None
    pixels, short_side, name = max(sizes)
    if short_side < 300 or pixels > limits.page_pixels:
        return None
    try:
        image = page.images[name].image
    except Exception:  # a filter PIL cannot decode (JBIG2, …): render the page instead
        return None
    if image is None or image.size[0] * image.size[1] > limits.page_pixels:
        return None
    return image


class _Renderer:
    """Pages rendered for OCR at RENDER_DPI, or lower where a page that large would pass the pixel limit."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        self.path, self.limits, self.doc = path, limits, None
        self.notes: dict[int, list[str]] = {}  # page index → what the reader should know (a lower resolution)

    def render(self, i: int):
        import pypdfium2 as pdfium

        if self.doc is None:
            self.doc = pdfium.PdfDocument(str(self.path))
        page = self.doc[i]
        try:
            width, height = page.get_size()
            scale = scale_to_fit(width, height, RENDER_DPI / 72, self.limits.page_pixels)
            if scale < RENDER_DPI / 72:
                self.notes[i] = [f"page {i + 1} ({width:,.0f} × {height:,.0f} pt) read at {scale * 72:.0f} dpi "
                                 f"to stay within {self.limits.page_pixels / 1e6:,.0f} megapixels"]
            return page.render(scale=scale).to_pil()
        finally:
            page.close()

    def close(self) -> None:
        if self.doc is not None:
            self.doc.close()


def _table_pages(path: Path, pages: list[int]) -> dict[int, list[tuple[str, bool]]]:
    """For pages holding ruled tables: (block, is_row) in reading order, table cells as header-named rows.

    Pages without tables are left to pypdf, whose text is what earlier versions indexed.
    """
    if not pages:
        return {}
    import pdfplumber

    out: dict[int, list[tuple[str, bool]]] = {}
    with pdfplumber.open(str(path)) as doc:
        for i in pages:
            page = doc.pages[i]
            if not (page.rects or page.lines):
                continue
            found = [t for t in page.find_tables() if len(t.rows) >= 2]
            if not found:
                continue
            boxes = [t.bbox for t in found]

            def outside(obj, boxes=boxes):
                return not any(x0 <= obj.get("x0", -1) and obj.get("x1", 1e9) <= x1 and top <= obj.get("top", -1)
                               and obj.get("bottom", 1e9) <= bottom for x0, top, x1, bottom in boxes)

            blocks: list[tuple[float, str, bool]] = [
                (line["top"], line["text"], False) for line in page.filter(outside).extract_text_lines() if line["text"].strip()
            ]
            for t in found:
                lines = row_lines(t.extract())
                blocks += [(t.bbox[1] + k * 1e-3, line, True) for k, line in enumerate(lines)]
            out[i] = [(text, is_row) for _, text, is_row in sorted(blocks, key=lambda x: x[0])]
            page.close()
    return out
