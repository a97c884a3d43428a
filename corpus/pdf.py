"""PDF to text page by page: the text layer where there is one, OCR where there is none, tables as rows.

A page whose text layer holds fewer than MIN_TEXT_CHARS characters is a scan (or a photo of
a stamped page); only those pages are OCRed, so a digital PDF never pays for OCR and never has
its exact text replaced by a recognised one. Every block records its page for the citation.
"""

from __future__ import annotations

import re
from pathlib import Path

from policyqa.corpus.loaders import LoadError
from policyqa.corpus.tables import row_lines
from policyqa.corpus.textbuild import TextBuilder
from policyqa.corpus.types import Extracted, LoadOptions

MIN_TEXT_CHARS = 10
RENDER_DPI = 300  # for pages whose picture cannot be taken out as it is


def has_text_layer(text: str) -> bool:
    return len(re.sub(r"\s", "", text)) >= MIN_TEXT_CHARS


def pdf(path: Path, options: LoadOptions) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise LoadError(f"{path}: PDF is encrypted; save an unencrypted copy")
    title = None
    if reader.metadata and reader.metadata.title:
        title = str(reader.metadata.title).strip() or None
    texts = [(page.extract_text() or "").strip() for page in reader.pages]
    text_pages = [i for i, t in enumerate(texts) if has_text_layer(t)]
    scanned = [i for i, t in enumerate(texts) if not has_text_layer(t)]
    tables = _table_pages(path, text_pages)
    recognised = _ocr_pages(reader, path, scanned, options) if options.ocr and scanned else {}
    b = TextBuilder()
    for i, text in enumerate(texts):
        if i in tables:
            for block, is_row in tables[i]:
                b.add(block, page=i + 1, row=is_row)
        elif i in recognised:
            b.add(recognised[i], page=i + 1, ocr=True)
        elif text:
            b.add(text, page=i + 1)
    if scanned and not options.ocr and not text_pages:
        raise LoadError(f"{path}: scanned PDF without a text layer and OCR is off (--no-ocr); build without --no-ocr to read it")
    return b.extracted(title)


def _ocr_pages(reader, path: Path, pages: list[int], options: LoadOptions) -> dict[int, str]:
    from tqdm import tqdm

    from policyqa.corpus import ocr

    out: dict[int, str] = {}
    bar = tqdm(pages, desc=f"OCR {path.name}", unit="page", leave=False, disable=not options.progress)
    for i in bar:
        try:
            out[i] = ocr.image_text(_page_image(reader, path, i))
        except ocr.OcrUnavailable as e:
            raise LoadError(f"{path}: page {i + 1} has no text layer and {e}; or build with --no-ocr") from None
    return out


def _page_image(reader, path: Path, i: int):
    """The page's scanned picture as stored (no resampling); a rendering when it cannot be taken out."""
    try:
        images = [im.image for im in reader.pages[i].images]
    except Exception:  # a filter PIL cannot decode (JBIG2, …): render the page instead
        images = []
    images = [im for im in images if im is not None and min(im.size) >= 300]
    if images:
        return max(images, key=lambda im: im.size[0] * im.size[1])
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        return doc[i].render(scale=RENDER_DPI / 72).to_pil()
    finally:
        doc.close()


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
