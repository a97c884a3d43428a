"""A folder of files to Documents: hash, load, describe, chunk; report what cannot be read.

Hashing the bytes comes first and is cheap, so the index builder can skip parsing documents
it already holds; only files whose hash is new are loaded and chunked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from policyqa.corpus.loaders import SUPPORTED, LoadError, load
from policyqa.corpus.metadata import extract
from policyqa.corpus.sections import ChunkParams, passages
from policyqa.corpus.types import Document, LoadOptions


@dataclass
class FileEntry:
    source: str  # relative to the corpus folder, '/'-separated
    path: Path
    doc_id: str  # hash of the bytes
    size: int


@dataclass
class Skipped:
    source: str
    reason: str


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def scan(corpus_dir: Path) -> tuple[list[FileEntry], list[Skipped]]:
    """Every supported file below corpus_dir (hidden ones ignored), hashed; the rest reported."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist; create it and put documents in it")
    entries, skipped = [], []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        source = rel.as_posix()
        if path.suffix.lower() not in SUPPORTED:
            skipped.append(Skipped(source, f"unsupported file type {path.suffix or '(none)'}"))
            continue
        data = path.read_bytes()
        entries.append(FileEntry(source, path, content_hash(data), len(data)))
    return entries, skipped


def read_document(entry: FileEntry, params: ChunkParams, options: LoadOptions = LoadOptions()) -> Document:
    """Load, describe and chunk one file; raises LoadError with a one-line reason."""
    ex = load(entry.path, options)
    meta = extract(ex, entry.source)
    doc = Document(doc_id=entry.doc_id, source=entry.source, text=ex.text, meta=meta)
    doc.passages = passages(doc.doc_id, ex, meta.title, params)
    if not doc.passages:
        raise LoadError(f"{entry.path}: no passages with text found; check the file's content")
    return doc


def read_corpus(corpus_dir: Path, params: ChunkParams = ChunkParams(),
                options: LoadOptions = LoadOptions()) -> tuple[list[Document], list[Skipped]]:
    """All documents of a folder, for tests and tools that want no index (the builder reads lazily)."""
    entries, skipped = scan(corpus_dir)
    docs, seen = [], set()
    for entry in entries:
        if entry.doc_id in seen:
            skipped.append(Skipped(entry.source, "same content as another file"))
            continue
        try:
            docs.append(read_document(entry, params, options))
            seen.add(entry.doc_id)
        except LoadError as e:
            skipped.append(Skipped(entry.source, str(e)))
    return docs, skipped
