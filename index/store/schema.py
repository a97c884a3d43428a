"""The on-disk records of an index, typed: a commit's manifest, its segment entries, its catalogue.

They stay plain dicts at run time (a catalogue holds 670,000 entries at a million passages, read
and written with C-level passes), so these TypedDicts cost nothing; they are where the schema is
written down, and what type checkers hold every reader and writer to.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class CatalogEntry(TypedDict, total=False):
    """Where one file's document lives. Title and city are in the segment (docs.bin), not here:
    the commit is rewritten on every add."""

    doc_id: str  # content hash: the same bytes under two names are one document
    segment: str  # seg-NNNNNN
    doc_num: int  # the document's number within its segment
    passages: int
    size: int  # the file's size and modification time at the last scan: unchanged files are not read
    mtime_ns: int


Catalog = dict[str, CatalogEntry]  # source (path in the documents folder) → entry


class SegmentEntry(TypedDict):
    """One segment as a commit names it."""

    name: str
    rows: int
    docs: int
    dimension: int  # 0 while not embedded
    vectors: str  # flat | hnsw | ivf-sq8
    files: dict[str, list]  # file name → [size, SHA-256, mtime_ns]
    embedded: NotRequired[bool]  # False: written before its vectors (segment.attach_vectors); absent: embedded
    fresh: NotRequired[bool]  # True: a build's own segment, still to be folded with the build's others


class CatalogRef(TypedDict):
    """A commit's catalogue: an immutable base file plus this commit's changes to it."""

    base: str  # catalog-NNNNNN.json
    sha256: str
    stat: NotRequired[list[int]]  # [size, mtime_ns] at writing: a base that still has both is not hashed on open
    delta: dict[str, CatalogEntry | None]  # None: the document was removed


class Manifest(TypedDict, total=False):
    """A commit as readers see it: `documents` is the catalogue whole (base with the changes applied)."""

    format: int
    seq: int
    model: str
    model_fingerprint: str
    encoder: str
    dimension: int
    index_type: str  # the segments' vector kinds, joined
    chunker: str
    tokenizer: str
    lifecycle: str  # corpus/lifecycle.py READER: which reading of documents' own dates the metadata holds
    ocr: bool
    built_at: str
    corpus_dir: str
    scanned_at_ns: int
    passages: int
    segments: list[SegmentEntry]
    documents: Catalog
    catalog: CatalogRef
    duplicates: list[list[str]]  # [file, the file it duplicates]
    skipped: list[list[str]]  # [file, reason]
