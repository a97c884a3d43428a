"""How much one file may cost to read: every limit in one place, with the reason for its number.

The numbers are generous for real government documents and small next to what a hostile file
asks for (a 1 MB zip claiming a gigabyte of XML, a PDF page 1.7 metres wide, 200,000 pages
that are all the same page). Each is enforced while the file is read, not after: a loader
raises `LimitExceeded` as soon as it knows, and `loaders.load` turns that into a `LoadError`
naming the file, the limit and what to do, so the build skips that file and goes on.

Tests and callers with other needs pass their own `ReadLimits` in `LoadOptions(limits=...)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MB = 1 << 20

# What reading one hostile file may add to a process's peak memory (resident set, over what the
# interpreter held with the readers imported). tests/safety/test_hostile_files.py loads each bomb
# in a fresh interpreter and holds it to this. Measured: a normal scanned A4 page costs 600-800 MB,
# most of it the OCR engine (RapidOCR on onnxruntime), and a page at the pixel limit 1,000 MB; the
# bombs that need no OCR stay under 300 MB (a 1 GB zip bomb, 200,000 pages: under 10 MB). A real
# file at several limits at once can cost more: a .docx with 64 MB of XML (a 500 MB tree) and
# pictures to OCR. Before these limits the bombs took 2 to over 7 GB.
RSS_CEILING_MB = 1_200


@dataclass(frozen=True)
class ReadLimits:
    # Everything a .docx or .ofd inflates to, pictures included, counted as it is inflated (every
    # read counts, so one page read 200,000 times counts 200,000 times). A .docx is rarely over
    # 50 MB unzipped, photographs included; 200 MB leaves four times that.
    unzipped_bytes: int = 200 * MB
    # XML parsed whole into a tree (a .docx's parts, by python-docx; an .ofd is streamed instead):
    # the tree costs about eight times the XML (60 MB of document.xml took 490 MB). 3,000,000
    # characters of formatted Word text are some 60 MB of XML, so more could not be indexed anyway.
    xml_bytes: int = 64 * MB
    # Depth of XML read as a stream (an .ofd's files): OFD nests some eight levels; libxml2, which
    # parses a .docx, stops at 256 too. Each open level is held in memory until it closes.
    xml_depth: int = 256
    # Files in one zip: each costs memory when the archive is opened, before any is read. An .ofd
    # has one to three per page (6,000 at the page limit), a .docx a few dozen.
    zip_members: int = 20_000
    # Characters of text in one document: about 6,000 passages, some 8 minutes of embedding on two
    # CPU cores. No policy document comes near (the seeds are under 10,000).
    document_chars: int = 3_000_000
    # Pages of a PDF or OFD. Reports and yearbooks of a few hundred pages are posted; 2,000 pages is
    # a book that should be split (and at the text limit, 1,500 characters a page).
    pages: int = 2_000
    # Pixels of one page or picture handed to OCR. A4 at 300 dpi is 8.7 megapixels, A3 17.4; a
    # larger sheet is rendered at a lower resolution so it fits (an A2 poster at 250 dpi), and a
    # stored picture too large is skipped. Measured with OCR: an A4 page at 300 dpi costs 600 MB
    # (most of it the OCR engine), a 25-megapixel page 1,000 MB; a 434-megapixel one took 6 GB.
    page_pixels: int = 25_000_000
    # Seconds of OCR (rendering included) for one document: some 450 scanned pages at 2 s a page
    # on two cores. Blank pages are never OCRed, so empty padding costs little here.
    ocr_seconds: float = 900.0
    # Seconds LibreOffice may take to convert one .doc or .wps to .docx (it takes a few here); then
    # it is killed with everything it started, and its folder removed.
    convert_seconds: float = 180.0
    # Bytes of a .txt, .md or .html file: 3,000,000 characters of Chinese are 9 MB of UTF-8, and a
    # saved web page a few times its text.
    text_file_bytes: int = 32 * MB


class LimitExceeded(Exception):
    """A file over one of the limits: `reason` says which, `advice` what the user can do."""

    def __init__(self, reason: str, advice: str = "split it into smaller files") -> None:
        super().__init__(f"{reason}; {advice}")
        self.reason, self.advice = reason, advice


def megabytes(n: int) -> str:
    return f"{n / MB:,.0f} MB" if n >= MB else f"{n:,} bytes"


def too_long(limit: int, chars: int | None = None) -> LimitExceeded:
    """The one wording for a text over the character limit (the build summary shows it)."""
    count = f"{chars:,}" if chars is not None else f"more than {limit:,}"
    return LimitExceeded(f"too long to index ({count} characters of text, the limit is {limit:,})")


class OcrClock:
    """The OCR time one document has used; `check` before each page or picture raises once it is spent."""

    def __init__(self, limits: ReadLimits) -> None:
        self.limit = limits.ocr_seconds
        self.used = 0.0
        self._since: float | None = None

    def __enter__(self) -> OcrClock:
        self._since = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.used += time.monotonic() - (self._since or time.monotonic())
        self._since = None

    def check(self) -> None:
        if self.used > self.limit:
            raise LimitExceeded(f"OCR took more than {self.limit:,.0f} s (limit {self.limit:,.0f} s per document)",
                                "split it, add a text version, or build with --no-ocr")


def scale_to_fit(width: float, height: float, scale: float, max_pixels: int) -> float:
    """`scale`, or the largest smaller one at which a width × height page stays within max_pixels."""
    pixels = width * scale * height * scale
    if pixels <= max_pixels:
        return scale
    return scale * (max_pixels / pixels) ** 0.5 * 0.999  # rounding up to whole pixels must not tip it over
