"""Assemble a document's text block by block, recording what each block was.

Loaders that know pages, OCR or table rows append blocks here, so the offsets of those regions
are exact in the final text: every block is normalised before it is placed, and blocks are
joined by one newline, so nothing shifts afterwards. A builder given `max_chars` refuses the
block that would take the text past it, so a document over the limit stops growing there
instead of being built whole and measured afterwards.
"""

from __future__ import annotations

from policyqa.corpus.limits import too_long
from policyqa.corpus.types import Extracted, Heading, Region


class TextBuilder:
    def __init__(self, max_chars: int | None = None) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.pos = 0
        self.headings: list[Heading] = []
        self.regions: list[Region] = []
        self.rows: list[tuple[int, int]] = []

    def add(self, text: str, *, page: int | None = None, ocr: bool = False, row: bool = False,
            heading: int | None = None) -> None:
        """One block (a paragraph, a table row, a page's text); blank blocks are dropped.

        `heading` is the outline level the format declares (0 for the document title).
        """
        from policyqa.corpus.loaders import normalize

        text = normalize(text).strip("\n")
        if not text.strip():
            return
        if self.parts:
            self.pos += 1  # the newline joining blocks
        start, end = self.pos, self.pos + len(text)
        if self.max_chars is not None and end > self.max_chars:
            raise too_long(self.max_chars)
        self.parts.append(text)
        self.pos = end
        if page is not None or ocr:
            last = self.regions[-1] if self.regions else None
            if last and last.page == page and last.ocr == ocr and last.end + 1 == start:
                last.end = end
            else:
                self.regions.append(Region(start, end, page, ocr))
        if row:
            self.rows.append((start, end))
        if heading is not None:
            self.headings.append(Heading(start, end, heading, text.strip()))

    def extracted(self, title: str | None = None) -> Extracted:
        return Extracted(text="\n".join(self.parts), title=title, headings=self.headings, regions=self.regions, rows=self.rows)
