"""The nouns of the corpus stage.

Offsets (`start`, `end`) always index into `Document.text`, the text a loader extracted, so a
citation can be checked by slicing that text: `doc.text[p.start:p.end] == p.body`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from policyqa.corpus.limits import ReadLimits


@dataclass
class Heading:
    """A heading found in a document: `level` is 1 for the top of the outline."""

    start: int
    end: int
    level: int
    text: str
    run_in: bool = False  # heading opens a paragraph ("一、深化改革。正文……")


@dataclass(frozen=True)
class LoadOptions:
    """How loaders may work: `ocr` False never reads images (policyqa build --no-ocr); `limits` bound
    what one file may cost (corpus/limits.py)."""

    ocr: bool = True
    progress: bool = False  # per-page bars for slow work (OCR) inside one file
    limits: ReadLimits = ReadLimits()


@dataclass
class Region:
    """Where a stretch of the text came from: its page (PDF, OFD) and whether OCR read it."""

    start: int
    end: int
    page: int | None = None  # 1-based
    ocr: bool = False


@dataclass
class Extracted:
    """What a loader gives back: plain text plus structure the file format itself declares."""

    text: str
    title: str | None = None
    headings: list[Heading] = field(default_factory=list)  # explicit (docx styles, <h2>, ##)
    warnings: list[str] = field(default_factory=list)  # parts left out (a PDF page that cannot be read)
    regions: list[Region] = field(default_factory=list)  # pages and OCRed stretches, in text order
    rows: list[tuple[int, int]] = field(default_factory=list)  # table rows: (start, end), never split


@dataclass
class Dated:
    """A date a document states about itself, with the sentence it came from, so a reader can check it.

    `date` is None when the sentence names a date that does not exist (2月30日); `note` then says why."""

    date: str | None  # ISO
    sentence: str
    note: str | None = None


@dataclass
class Reference:
    """Another document this one repeals (废止, 不再执行) or amends (修订, 修改), as its text names it.

    Which indexed document it means is decided when asked (qa/lifecycle.py), by 文号 first, then by
    title, so a document added later is still found."""

    action: str  # 废止 | 修订
    title: str | None  # without 《》
    doc_number: str | None  # 文号 as written
    sentence: str


@dataclass
class Lifecycle:
    """What a document says about its own life: when it takes effect and ends, what it repeals.

    Only stated facts are stored; the status on a date is computed when asked (qa/lifecycle.py),
    so it follows the calendar without a rebuild."""

    effective: Dated | None = None
    expires: Dated | None = None
    trial: bool = False  # 试行 / 试行期
    references: list[Reference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # an expiry before the effective date …

    @classmethod
    def from_dict(cls, d: dict) -> Lifecycle:
        dated = lambda x: Dated(**x) if x else None  # noqa: E731
        return cls(effective=dated(d.get("effective")), expires=dated(d.get("expires")), trial=bool(d.get("trial")),
                   references=[Reference(**r) for r in d.get("references") or []], problems=list(d.get("problems") or []))


@dataclass
class DocMeta:
    title: str
    city: str | None = None
    province: str | None = None
    prefecture: str | None = None  # parent city of a county-level city (大冶市 → 黄石市)
    year: int | None = None
    years: list[int] = field(default_factory=list)  # every year the title or header names
    doc_type: str = "其他"
    issuer: str | None = None
    doc_number: str | None = None  # 文号
    date: str | None = None  # ISO date
    lifecycle: Lifecycle | None = None  # None: an index built before lifecycles were read, or nothing said

    def __post_init__(self):
        # the catalogue stores metadata as JSON: DocMeta(**stored) hands the lifecycle over as a dict
        if isinstance(self.lifecycle, dict):
            self.lifecycle = Lifecycle.from_dict(self.lifecycle)

    def to_dict(self) -> dict:
        # as asdict(self), which copied every field recursively: a sixth of a build's own time
        d = {name: getattr(self, name) for name in _META_FIELDS}
        d["years"] = list(self.years)
        if self.lifecycle is not None:
            d["lifecycle"] = asdict(self.lifecycle)
        return d


_META_FIELDS = tuple(f.name for f in fields(DocMeta))


@dataclass
class Passage:
    """A retrievable unit: `body` is exactly `document.text[start:end]`."""

    doc_id: str
    ordinal: int
    start: int
    end: int
    section: list[str]  # heading path, document title first
    body: str
    page: int | None = None  # page the passage starts on (PDF, OFD), for the citation
    ocr: bool = False  # some of its text was read by OCR from an image

    @property
    def section_path(self) -> str:
        return heading_path(self.section)

    @property
    def indexed_text(self) -> str:
        return indexed_text(self.section, self.body)


def heading_path(section: list[str]) -> str:
    return " > ".join(section)


def indexed_text(section: list[str], body: str) -> str:
    """What is embedded and hashed for a passage: heading path + body (headings carry much of its
    meaning). A build that embeds a segment after writing it rebuilds this from the stored columns."""
    return f"{heading_path(section)}\n{body}"


@dataclass
class Document:
    doc_id: str  # content hash: the same text under two names is one document
    source: str  # path relative to the corpus folder, '/'-separated
    text: str
    meta: DocMeta
    passages: list[Passage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # from the loader, for the build summary; not stored
