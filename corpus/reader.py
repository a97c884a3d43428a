"""A folder of files to Documents: hash, load, describe, chunk; report what cannot be read.

Hashing the bytes comes first and is cheap, so the index builder can skip parsing documents
it already holds; only files whose hash is new are loaded and chunked.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from policyqa.corpus.limits import ReadLimits
from policyqa.corpus.loaders import SUPPORTED, LoadError, load
from policyqa.corpus.metadata import extract
from policyqa.corpus.paths import Located, Skipped, shown, walk, walk_named
from policyqa.corpus.sections import ChunkParams, passages
from policyqa.corpus.types import Document, LoadOptions

# A longer text is refused by name: 3,000,000 characters are about 6,000 passages, some 8 minutes
# of embedding on two CPU cores (12 passages/s), and no policy document comes near (the seeds are
# under 10,000). A 50 MB text file (17 million characters of Chinese) would take hours; it is
# skipped in seconds instead, with this reason. The number lives with the other limits on what
# one file may cost (corpus/limits.py), which loaders enforce while the text is being built.
MAX_DOCUMENT_CHARS = ReadLimits().document_chars
# A file whose size and modification time match what the last scan recorded keeps its hash
# unread, unless it was modified this close to that scan: a change within the same timestamp
# tick (2 s on the coarsest file systems) would not move the time.
RACY_NS = 2_000_000_000


@dataclass
class FileEntry(Located):
    """A file of the folder with the hash of its bytes: what a build decides on."""

    source: str  # relative to the corpus folder, '/'-separated
    location: str | Path
    doc_id: str  # hash of the bytes
    size: int
    mtime_ns: int = 0


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def scan(corpus_dir: Path, known: Mapping[str, tuple[int, int, str]] | None = None,
         scanned_at_ns: int = 0, only: list[str] | None = None) -> tuple[list[FileEntry], list[Skipped]]:
    """Every supported file below corpus_dir (hidden ones ignored), hashed; the rest reported.

    Nothing outside the folder is read: symbolic links are reported, not followed (see
    `corpus.paths.walk`), and the walk has no depth limit. `known` (source → size, mtime_ns,
    hash, as a scan that started at `scanned_at_ns` saw them) spares reading the files that have
    not changed since: at 67,000 files, reading and hashing every one was most of an add.
    `only` scans just those names (files, or folders walked whole), for an update that knows them.
    """
    known = known or {}
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        if corpus_dir.exists():
            raise FileNotFoundError(f"corpus folder {shown(str(corpus_dir))} is a file, not a folder; give the documents folder")
        raise FileNotFoundError(f"corpus folder {shown(str(corpus_dir))} does not exist; create it and put documents in it")
    found, passed = walk(corpus_dir) if only is None else walk_named(corpus_dir, only)
    entries: list[FileEntry] = []
    skipped = list(passed)
    for f in found:
        name = f.rel.rpartition("/")[2]
        dot = name.rfind(".")
        suffix = name[dot:] if 0 < dot < len(name) - 1 else ""  # as Path.suffix, without building a Path
        if suffix.lower() not in SUPPORTED:
            skipped.append(Skipped(f.rel, f"unsupported file type {suffix or '(none)'}"))
            continue
        was = known.get(f.rel)
        if was and was[0] == f.size and was[1] == f.mtime_ns and f.mtime_ns < scanned_at_ns - RACY_NS:
            entries.append(FileEntry(f.rel, f.location, was[2], f.size, f.mtime_ns))
        else:
            entries.append(FileEntry(f.rel, f.location, "", f.size, f.mtime_ns))  # hashed below
    unread = [e for e in entries if not e.doc_id]
    for e, got in zip(unread, _hashes([e.location for e in unread])):
        if isinstance(got, OSError):
            skipped.append(Skipped(e.source, f"cannot read ({got.strerror or got})"))
        else:
            e.doc_id, e.size = got
    skipped.sort(key=lambda s: s.source)
    return [e for e in entries if e.doc_id], skipped


HASH_THREADS = 4  # files are read and hashed by this many threads when there are many


def _hashes(locations: list) -> list[tuple[str, int] | OSError]:
    """(hash, size) of each file's bytes, or why it could not be read. Threads overlap one file's
    open and read (which release the GIL) with another's hashing: reading 670,000 files one by
    one kept a big build's workers waiting for a minute before they had a file to parse."""
    if len(locations) < 256:
        return [_hash_one(x) for x in locations]
    from concurrent.futures import ThreadPoolExecutor

    runs = [locations[i : i + 256] for i in range(0, len(locations), 256)]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return [got for run in pool.map(lambda run: [_hash_one(x) for x in run], runs) for got in run]


def _hash_one(location) -> tuple[str, int] | OSError:
    try:
        with open(location, "rb") as fh:
            data = fh.read()
    except OSError as e:
        return e
    return content_hash(data), len(data)


def read_document(entry: FileEntry, params: ChunkParams, options: LoadOptions = LoadOptions(),
                  max_chars: int | None = None) -> Document:
    """Load, describe and chunk one file; raises LoadError with a one-line reason.

    `max_chars` (bench/bench_big_file.py --no-limit) replaces the character limit of
    `options.limits`, and lets a text file be as large as that many characters can be."""
    limits = options.limits
    if max_chars is not None:
        limits = replace(limits, document_chars=max_chars, text_file_bytes=max(limits.text_file_bytes, min(4 * max_chars, sys.maxsize)))
        options = replace(options, limits=limits)
    max_chars = limits.document_chars
    ex = load(entry.path, options)
    if len(ex.text) > max_chars:
        raise LoadError(
            f"{entry.path}: too long to index ({len(ex.text):,} characters of text, the limit is {max_chars:,}); "
            "split it into smaller files"
        )
    meta = extract(ex, entry.source)
    doc = Document(doc_id=entry.doc_id, source=entry.source, text=ex.text, meta=meta, warnings=list(ex.warnings))
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
